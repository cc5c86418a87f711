"""What the cluster, S3 and chaos tests share: the smoke study they run, its driver as a process
of its own, a Ray cluster of several nodes on 127.0.0.1 (`tests/ray_nodes.py`), finding and
killing the processes a test started (by PID, never by name), the listening sockets of those
processes, and tables compared with an undisturbed run's.

Every process here gets a Ray temporary folder of its own (`RAY_TMPDIR`), so nothing touches
another Ray on this machine, and usage statistics off, so nothing is sent anywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from nc_core.results.records import LIST_COLUMNS

REPO = Path(__file__).resolve().parents[1]
STUDY = "eps_sweep-smoke-canonical"  # the one kind: a study of its own name
# 3 trials (the baseline, eps 0.1 and 0.3) of a 16-wide MLP on 20 synthetic samples per class
SMOKE = (
    "--preset smoke --kinds canonical --dataset synthetic --set width=16 --set subset=20 "
    "--set nc_samples=10 "
    "--verbose 0"
).split()
TRIALS = 3
# An epoch of this size takes about 0.1 s, a new Ray worker 5-30 s to start: at 10 epochs a trial
# trains for about a second, long enough for a kill or a lost node to land mid-training.
EPOCHS = 10
LOOPBACK = ("127.0.0.1", "::ffff:127.0.0.1", "::1")
IDS = ("trial_id",)  # random per run; timings are every `*_seconds` column
TRIAL_TITLE = "ray::ImplicitFunc"  # a Tune function trial's worker (".train" while it runs)


def study_args(tmp: Path, epochs: int = EPOCHS, storage: str | None = None) -> list[str]:
    """The smoke study's arguments, its tables under `tmp/results`, Tune's storage `storage`
    (default `tmp/ray`)."""
    where = ["--storage", storage or str(tmp / "ray"), "--results", str(tmp / "results")]
    return [*SMOKE, "--set", f"epochs={epochs}", *where]


def ray_temp() -> str:
    """A fresh Ray temporary folder (short: Ray's socket paths are capped at 107 bytes)."""
    return tempfile.mkdtemp(prefix="ncray", dir="/tmp")


def ray_env(temp: str, **extra: str) -> dict[str, str]:
    """The environment of a process that starts or joins a Ray for a test."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "RAY_TMPDIR": temp}
    env.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0")
    env.update(extra)
    return env


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something accepts a TCP connection at host:port (a plain socket, no Ray)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(condition, timeout: float, what: str, every: float = 0.1):
    """`condition()`'s first true value within `timeout` seconds; AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


# ---------------------------------------------------------------------------- processes


def descendants(pids) -> set[int]:
    """`pids` and every living process below them."""
    import psutil  # shipped inside Ray's package: importable once Ray is

    out = set()
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            out.add(pid)
            out.update(c.pid for c in proc.children(recursive=True))
        except psutil.NoSuchProcess:
            continue
    return out


def of_temp_dir(temp: str) -> set[int]:
    """Processes whose command line names Ray temporary folder `temp` (a node's servers and
    agents keep it there even when orphaned)."""
    import psutil

    out = set()
    for proc in psutil.process_iter(["cmdline"]):
        if temp in " ".join(proc.info["cmdline"] or []):
            out.add(proc.pid)
    return out


def kill_pids(pids) -> None:
    """SIGKILL each of `pids` (those still alive), then reap or wait for them."""
    import psutil

    procs = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            proc.kill()
            procs.append(proc)
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(procs, timeout=10)


def trial_workers(roots) -> list[int]:
    """PIDs of the Tune trial workers below `roots` (busy ones and idle reused ones), sorted."""
    import psutil

    found = []
    for pid in descendants(roots):
        try:
            title = " ".join(psutil.Process(pid).cmdline())
        except psutil.Error:
            continue
        if title.startswith(TRIAL_TITLE):
            found.append(pid)
    return sorted(found)


def listening(pids) -> list[str]:
    """`host:port` of every TCP socket that one of `pids` listens on (`ss -ltnp`)."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    wanted = {f"pid={p}," for p in pids}
    return [line.split()[3] for line in out.splitlines() if any(w in line for w in wanted)]


def beyond_loopback(addresses: list[str]) -> list[str]:
    """Those of `addresses` (`host:port`) that are not on loopback."""
    return [a for a in addresses if a.rsplit(":", 1)[0].strip("[]") not in LOOPBACK]


class Driver:
    """A study script run as a process of its own (its own session), its output in `log`."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(REPO / "studies" / "eps_sweep.py"), *args],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float) -> int:
        """Its exit status; AssertionError with the end of its output when it takes longer."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the driver ran past {timeout} s:\n{self.tail()}") from None

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def kill_all(self) -> None:
        """SIGKILL the driver and every process below it (its local Ray, if it started one)."""
        kill_pids(descendants([self.proc.pid]))
        self.proc.wait()


class LocalCluster:
    """A head and `workers` worker nodes on 127.0.0.1 (`tests/ray_nodes.py`), 1 CPU each.

    `address` is checked with a plain socket before anyone hands it to Ray. `close()` stops
    every node and then kills by PID whatever of it is left; use it in a `finally`."""

    def __init__(self, workers: int = 2, startup: float = 120) -> None:
        self.temp = ray_temp()
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "ray_nodes.py"), "--workers", str(workers)]
            + ["--temp-dir", self.temp],
            env=ray_env(self.temp),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        try:
            info = self._answer(startup)
            self.address = info["address"]
            self.nodes = info["nodes"]  # the head first
            host, port = self.address.rsplit(":", 1)
            assert host == "127.0.0.1" and port_answers(host, int(port)), self.address
        except BaseException:
            self.close()
            raise

    def _answer(self, timeout: float) -> dict:
        import selectors

        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout) or not (line := self.proc.stdout.readline()):
                raise AssertionError(f"the Ray nodes did not answer within {timeout} s")
        return json.loads(line)

    def pids(self) -> set[int]:
        """Every process of the cluster now: the nodes' servers, agents and workers."""
        return descendants([self.proc.pid]) | of_temp_dir(self.temp)

    def raylet(self, index: int) -> int:
        """The raylet PID of node `index` (0: the head)."""
        return self.nodes[index]["raylet_pid"]

    def remove(self, worker: int, timeout: float = 60) -> None:
        """Kill worker node `worker` (1-based): its raylet, object store and trial workers."""
        self.proc.stdin.write(f"remove {worker}\n")
        self.proc.stdin.flush()
        assert self._answer(timeout) == {"removed": worker}

    def close(self) -> None:
        leftovers = self.pids()
        try:
            self.proc.stdin.write("stop\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            pass
        kill_pids((leftovers | self.pids()) - {os.getpid()})
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.temp, ignore_errors=True)


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group of `proc` (started with start_new_session) if it is alive."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


# ---------------------------------------------------------------------------- tables


def read_tables(results: Path, name: str = STUDY) -> tuple[pd.DataFrame, pd.DataFrame]:
    out = Path(results) / name
    return pd.read_parquet(out / "epochs.parquet"), pd.read_parquet(out / "layers.parquet")


def comparable(table: pd.DataFrame) -> pd.DataFrame:
    """`table` without ids and timings, its rows in an order that does not depend on them."""
    drop = [c for c in table.columns if c in IDS or c.endswith("_seconds")]
    out = table.drop(columns=drop)
    for column in LIST_COLUMNS:  # arrays of layer names: as tuples they sort and compare
        if column in out:
            out[column] = out[column].map(tuple)
    return out.sort_values(list(out.columns), kind="stable").reset_index(drop=True)


def assert_same_tables(got: tuple, want: tuple) -> None:
    """Both tables equal, value for value, in every column but ids and timings."""
    for name, a, b in zip(("epochs", "layers"), got, want, strict=True):
        try:
            pd.testing.assert_frame_equal(comparable(a), comparable(b), check_exact=True)
        except AssertionError as err:
            raise AssertionError(
                f"{name} table differs from the undisturbed run's: {err}"
            ) from None


def assert_each_row_once(
    epochs: pd.DataFrame, layers: pd.DataFrame, epochs_per_trial: int = EPOCHS
):
    """Every (trial, epoch) row exactly once, every trial ok and complete."""
    assert epochs.trial_id.nunique() == TRIALS
    assert not epochs.duplicated(["trial_id", "epoch"]).any()
    assert not layers.duplicated(["trial_id", "epoch", "layer"]).any()
    for trial_id, rows in epochs.groupby("trial_id"):
        assert sorted(rows.epoch) == list(range(1, epochs_per_trial + 1)), trial_id
    assert set(epochs.status) == {"ok"}
    assert set(layers.trial_id) == set(epochs.trial_id)
    per_epoch = layers.groupby(["trial_id", "epoch"]).size()
    assert len(per_epoch) == len(epochs) and per_epoch.nunique() == 1  # each epoch all layers


_REFERENCE: dict[int, tuple[pd.DataFrame, pd.DataFrame]] = {}


def undisturbed(tmp_root: Path, epochs: int = EPOCHS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tables of the smoke study run undisturbed, in this process's Ray (the `ray_session`
    fixture); run once per number of epochs in a test session, then reused."""
    from studies import eps_sweep

    if epochs not in _REFERENCE:
        tmp = Path(tmp_root) / f"undisturbed-{epochs}"
        tmp.mkdir(parents=True, exist_ok=True)
        assert eps_sweep.main(study_args(tmp, epochs)) == 0
        _REFERENCE[epochs] = read_tables(tmp / "results")
    return _REFERENCE[epochs]

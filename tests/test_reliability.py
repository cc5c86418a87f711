"""Writes that fail leave the old files; checkpoints are checked; modes follow the umask; a
local Ray listens on loopback only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nc_core.results import atomic
from nc_core.results.pair import MismatchedTables, generation_of, read_pair, write_pair
from nc_core.train.config import RunConfig
from nc_core.train.state import CheckpointError, TrainState, load_state, save_state

REPO = Path(__file__).resolve().parents[1]


def frame(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"trial_id": [f"t{i % 7}" for i in range(rows)], "x": rng.random(rows)})


def test_pair_is_stamped_with_one_generation_and_reads_back(tmp_path):
    e, lay = frame(10), frame(20, 1)
    gen = write_pair(e, lay, tmp_path / "epochs.parquet", tmp_path / "layers.parquet")
    assert generation_of(tmp_path / "epochs.parquet") == generation_of(tmp_path / "layers.parquet")
    assert generation_of(tmp_path / "layers.parquet") == gen
    a, b = read_pair(tmp_path / "epochs.parquet", tmp_path / "layers.parquet")
    pd.testing.assert_frame_equal(a, e)
    pd.testing.assert_frame_equal(b, lay)


def test_read_pair_refuses_a_mismatched_pair_naming_both_files(tmp_path):
    write_pair(frame(3), frame(3), tmp_path / "epochs.parquet", tmp_path / "layers.parquet")
    write_pair(frame(4), frame(4), tmp_path / "e2.parquet", tmp_path / "layers.parquet")
    with pytest.raises(MismatchedTables, match="epochs.parquet.*layers.parquet"):
        read_pair(tmp_path / "epochs.parquet", tmp_path / "layers.parquet")


def _leftovers(d: Path) -> list[str]:
    """What a finished write leaves beside its pair but the pair: temporary files, a
    generation that is not current, anything else."""
    names = sorted(p.name for p in d.iterdir())
    extra = [
        n for n in names if n not in ("epochs.parquet", "layers.parquet", ".epochs.parquet.pair")
    ]
    folder = d / ".epochs.parquet.pair"
    if folder.is_dir():
        live = os.readlink(folder / "current")
        extra += [
            f"pair/{p.name}" for p in folder.iterdir() if p.name not in ("lock", "current", live)
        ]
    return extra + [str(p) for p in d.rglob("*.tmp")]


def _assert_old_pair_kept(d: Path, old: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    a, b = read_pair(d / "epochs.parquet", d / "layers.parquet")
    pd.testing.assert_frame_equal(a, old[0])
    pd.testing.assert_frame_equal(b, old[1])
    assert _leftovers(d) == []


KILL_AT_RENAME = """
import os, signal, sys
import numpy as np, pandas as pd
from nc_core.results.pair import write_pair
stop, calls, real = int(sys.argv[2]), [], os.replace
def replace(src, dst):
    calls.append(dst)
    if len(calls) == stop:
        os.kill(os.getpid(), signal.SIGKILL)  # no clean-up of any kind, as a power cut
    return real(src, dst)
os.replace = replace
d = sys.argv[1]
write_pair(pd.DataFrame({"x": np.arange(50.0)}), pd.DataFrame({"x": np.arange(60.0)}),
           f"{d}/epochs.parquet", f"{d}/layers.parquet")
"""


@pytest.mark.parametrize("kill_at", [1, 2, 3])
def test_writer_killed_at_any_rename_leaves_one_whole_pair_and_the_next_write_cleans_up(
    tmp_path, kill_at
):
    old = frame(5), frame(6)
    write_pair(*old, tmp_path / "epochs.parquet", tmp_path / "layers.parquet")
    done = subprocess.run(
        [sys.executable, "-c", KILL_AT_RENAME, str(tmp_path), str(kill_at)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode in (0, -9), done.stderr
    a, b = read_pair(tmp_path / "epochs.parquet", tmp_path / "layers.parquet")  # not mismatched
    assert (len(a), len(b)) in ((5, 6), (50, 60))
    assert done.returncode == 0 or (len(a), len(b)) == (5, 6)  # killed: the old pair, whole
    (tmp_path / ".layers.parquet.k2j3h4x9.tmp").write_bytes(b"left by an older version")
    os.utime(tmp_path / ".layers.parquet.k2j3h4x9.tmp", (0, 0))
    new = frame(7), frame(8)
    write_pair(*new, tmp_path / "epochs.parquet", tmp_path / "layers.parquet")
    a, b = read_pair(tmp_path / "epochs.parquet", tmp_path / "layers.parquet")
    pd.testing.assert_frame_equal(a, new[0])
    pd.testing.assert_frame_equal(b, new[1])
    assert _leftovers(tmp_path) == []


def test_a_killed_single_file_write_leaves_a_temporary_file_the_next_write_removes(tmp_path):
    target = tmp_path / "report.md"
    script = (
        "import os, signal, sys\n"
        "from nc_core.results.atomic import write_atomic\n"
        "os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
        "write_atomic(sys.argv[1], lambda tmp: open(tmp, 'w').write('new'))\n"
    )
    target.write_text("old")
    done = subprocess.run(
        [sys.executable, "-c", script, str(target)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == -9
    assert target.read_text() == "old" and len(list(tmp_path.glob(".report.md.*.tmp"))) == 1
    atomic.write_text_atomic(target, "newer")
    assert target.read_text() == "newer" and sorted(p.name for p in tmp_path.iterdir()) == [
        "report.md"
    ]


def test_injected_write_failure_of_the_second_table_keeps_both_old_tables(tmp_path, monkeypatch):
    old = frame(5), frame(6)
    write_pair(*old, tmp_path / "epochs.parquet", tmp_path / "layers.parquet")
    calls = []

    import pyarrow.parquet as pq

    real_write_table = pq.write_table

    def failing_write_table(table, where, *args, **kwargs):
        calls.append(where)
        if len(calls) == 2:
            raise OSError(28, "No space left on device (injected)")
        return real_write_table(table, where, *args, **kwargs)

    monkeypatch.setattr(pq, "write_table", failing_write_table)
    with pytest.raises(OSError, match="injected"):
        write_pair(
            frame(50, 2), frame(60, 3), tmp_path / "epochs.parquet", tmp_path / "layers.parquet"
        )
    assert len(calls) == 2
    _assert_old_pair_kept(tmp_path, old)


@pytest.fixture
def tiny_fs(tmp_path):
    """A 1 MiB tmpfs (root only); skipped elsewhere (the injected-failure test covers it)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


def test_full_disk_during_the_pair_write_keeps_both_old_tables(tiny_fs):
    old = frame(100), frame(100, 1)
    write_pair(*old, tiny_fs / "epochs.parquet", tiny_fs / "layers.parquet")
    # the new epochs table fits, the layers table does not (random floats barely compress)
    with pytest.raises(OSError) as err:
        write_pair(
            frame(20_000, 2),
            frame(200_000, 3),
            tiny_fs / "epochs.parquet",
            tiny_fs / "layers.parquet",
        )
    assert "No space left" in str(err.value) or err.value.errno == 28
    _assert_old_pair_kept(tiny_fs, old)


def test_written_files_respect_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        atomic.write_atomic(tmp_path / "a.txt", lambda tmp: Path(tmp).write_text("x"))
        write_pair(frame(2), frame(2), tmp_path / "e.parquet", tmp_path / "l.parquet")
    finally:
        os.umask(old)
    for name in ("a.txt", "e.parquet", "l.parquet"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o640, name


def _state() -> TrainState:
    import torch

    return TrainState(
        config=RunConfig().to_dict(),
        epoch=1,
        model={"w": torch.arange(4096, dtype=torch.float32)},
    )


def test_checkpoint_round_trips_and_a_flipped_tensor_byte_is_detected(tmp_path):
    import torch

    path = tmp_path / "s.pt"
    save_state(_state(), path)
    assert torch.equal(load_state(path).model["w"], _state().model["w"])
    data = bytearray(path.read_bytes())
    # a byte inside the tensor storage: find the float32 bytes of 1000.0 and change one
    at = bytes(data).index(np.float32(1000.0).tobytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"unreadable or corrupt \(sha256 mismatch"):
        load_state(path)


@pytest.mark.parametrize("content", [b"", b"garbage\n" * 10, b"NCSTATE sha256 00\nxx"])
def test_broken_checkpoints_are_refused_with_the_path_and_what_to_do(tmp_path, content):
    path = tmp_path / "s.pt"
    path.write_bytes(content)
    with pytest.raises(
        CheckpointError,
        match=rf"checkpoint {path} is unreadable or corrupt .*; delete it or pass another",
    ):
        load_state(path)


BIND_SCRIPT = """
import subprocess, sys, tempfile
import ray
from nc_core.study.spec import StudyOptions
from nc_core.tune.local_ray import init_ray
ray_tmp = tempfile.mkdtemp(prefix="ncbind", dir="/tmp")
ray.init = (lambda init: lambda **kw: init(**kw, object_store_memory=80 * 1024**2,
                                           _temp_dir=ray_tmp))(ray.init)
init_ray(StudyOptions(num_cpus=1))
@ray.remote
def pid():
    import os
    return os.getpid()
import os, psutil
pids = {os.getpid(), ray.get(pid.remote())}
for p in psutil.process_iter(["cmdline"]):
    if ray_tmp in " ".join(p.info["cmdline"] or []):
        pids.add(p.pid)
out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
for line in out.splitlines():
    if any(f"pid={p}," in line for p in pids):
        print(line.split()[3])
ray.shutdown()
"""


@pytest.mark.skipif(sys.platform != "linux", reason="reads listening sockets with ss (Linux)")
def test_local_ray_listens_on_loopback_only(tmp_path):
    if subprocess.run(["which", "ss"], capture_output=True).returncode != 0:
        pytest.skip("ss (iproute2) is not installed")
    pytest.importorskip("ray")  # started in the subprocess below
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", BIND_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    addresses = done.stdout.split()
    assert addresses, "no listening socket of the local Ray was found"
    for address in addresses:
        host = address.rsplit(":", 1)[0].strip("[]")
        assert host in ("127.0.0.1", "::ffff:127.0.0.1", "::1"), addresses

"""Chaos: random SIGKILLs, seeded, to trial workers and to the driver across one smoke study on
a Ray cluster of three nodes on 127.0.0.1 (`tests/ray_nodes.py`), the driver restarted with the
same command after each of its deaths (which resumes the study).

Each kill waits for a trial to be training, then a random delay, then kills the worker of a
trial training then, or the driver; a third of the kills (at least one) hit the driver.
Afterwards the study finishes undisturbed; its tables hold every (trial, epoch) row exactly
once and equal an undisturbed run's in every column but ids and timings.

CI runs `NC_CHAOS_KILLS` kills, by default 2 (one to the driver, one to a trial worker: each
driver restart costs a new set of trial workers, 10-30 s on 2 cores); the full run is 20, with
longer trials so that every kill lands before the study ends:

    NC_CHAOS_KILLS=20 NC_CHAOS_EPOCHS=30 python -m pytest -q tests/test_chaos.py

`NC_CHAOS_SEED` (default 0) draws another sequence of targets and delays.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest

from tests.cluster_helpers import (
    EPOCHS,
    Driver,
    LocalCluster,
    assert_each_row_once,
    assert_same_tables,
    kill_pids,
    ray_env,
    read_tables,
    study_args,
    trial_workers,
    undisturbed,
    wait_for,
)

KILLS = int(os.environ.get("NC_CHAOS_KILLS", "2"))
CHAOS_EPOCHS = int(os.environ.get("NC_CHAOS_EPOCHS", str(EPOCHS)))
SEED = int(os.environ.get("NC_CHAOS_SEED", "0"))
MAX_DELAY = 0.4  # s after a trial is seen training: about four epochs of it

pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("ray_session"),  # the undisturbed run
    pytest.mark.skipif(sys.platform != "linux", reason="reads processes (Linux)"),
]


def training(cluster: LocalCluster) -> list[int]:
    """PIDs of the trial workers of every node that are in a trial's `train` call now."""
    import psutil

    busy = []
    for pid in trial_workers([cluster.raylet(i) for i in range(len(cluster.nodes))]):
        try:
            if psutil.Process(pid).cmdline()[0].endswith(".train"):
                busy.append(pid)
        except (psutil.Error, IndexError):
            continue
    return busy


class Study:
    """The study's driver on `cluster`, restarted with the same command after each death."""

    def __init__(self, cluster: LocalCluster, args: list[str], tmp: Path) -> None:
        self.cluster, self.args, self.tmp = cluster, args, tmp
        self.starts = 0
        self.driver = self.start()

    def start(self) -> Driver:
        self.starts += 1
        log = self.tmp / f"driver-{self.starts}.log"
        self.driver = Driver(self.args, self.tmp, ray_env(self.cluster.temp), log)
        return self.driver

    def training_now(self) -> list[int]:
        """The training trial workers, once there are any; [] once the driver has ended."""
        found = []

        def look() -> bool:
            found[:] = training(self.cluster)
            return bool(found) or not self.driver.alive()

        wait_for(look, 300, "a trial training")
        return found if self.driver.alive() else []

    def kill_driver(self) -> int:
        """SIGKILL the driver; its trials' workers end with it (they belong to its job), and
        any still there after a minute are killed too. Then start it again."""
        pid = self.driver.pid
        os.kill(pid, signal.SIGKILL)
        self.driver.proc.wait()
        raylets = [self.cluster.raylet(i) for i in range(len(self.cluster.nodes))]
        try:
            wait_for(lambda: not trial_workers(raylets), 60, "the killed driver's trials to end")
        except AssertionError:
            kill_pids(trial_workers(raylets))
        self.start()  # the same command: it resumes the study
        return pid


def test_study_survives_seeded_sigkills_of_trial_workers_and_the_driver(tmp_path, tmp_path_factory):
    rng = random.Random(SEED)
    targets = ["driver"] * max(1, KILLS // 3) + ["worker"] * (KILLS - max(1, KILLS // 3))
    rng.shuffle(targets)  # a third of the kills (at least one) hit the driver
    plan = [(target, rng.uniform(0, MAX_DELAY)) for target in targets]
    started = time.monotonic()
    cluster = LocalCluster(workers=2)
    args = [*study_args(tmp_path, CHAOS_EPOCHS), "--address", cluster.address]
    args += ["--max-failures", str(KILLS + 1)]  # a trial may be hit by every kill
    sent = []  # (seconds since the start, target, pid)
    study = Study(cluster, args, tmp_path)
    try:
        for target, delay in plan:
            study.training_now()
            time.sleep(delay)
            victims = study.training_now()  # those training now, or the next ones
            if not victims:
                break  # the study ended (or failed: checked below) before this kill
            if target == "worker":
                pid = rng.choice(victims)
                os.kill(pid, signal.SIGKILL)
            else:
                pid = study.kill_driver()
            sent.append((round(time.monotonic() - started, 1), target, pid))
        # every trial may fail more often than it is hit: a non-zero exit is a study that lost
        # something (a trial that cannot resume), not bad luck
        assert study.driver.wait(timeout=600) == 0, study.driver.tail()
    finally:
        study.driver.kill_all()
        cluster.close()
    took = time.monotonic() - started
    print(f"chaos: {len(sent)} kills, {study.starts} driver starts, {took:.0f} s")
    print("\n".join(f"  {t:6.1f} s  {target:6}  pid {pid}" for t, target, pid in sent))
    assert len(sent) == KILLS, (
        f"the study finished after {len(sent)} of {KILLS} kills: raise NC_CHAOS_EPOCHS"
    )

    got = read_tables(tmp_path / "results")
    assert_each_row_once(*got, epochs_per_trial=CHAOS_EPOCHS)
    assert_same_tables(got, undisturbed(tmp_path_factory.getbasetemp(), CHAOS_EPOCHS))

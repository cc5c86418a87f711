"""A study on a Ray cluster of three nodes on this machine (a head and two workers, 1 CPU each,
all on 127.0.0.1: `tests/ray_nodes.py`), joined with `--address` as on a real cluster, loses a
worker node mid-study.

The node is lost the way a machine hangs and then dies: its trial worker is stopped (SIGSTOP)
once its trial has two checkpoints, then every process of the node is killed. The trial restarts
on another node from the checkpoint the lost node wrote; the tables hold every (trial, epoch) row
exactly once and equal an undisturbed run's in every column but ids and timings; and nothing
the test started listens beyond loopback.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest
from ray import tune

from tests.cluster_helpers import (
    EPOCHS,
    STUDY,
    Driver,
    LocalCluster,
    assert_each_row_once,
    assert_same_tables,
    beyond_loopback,
    descendants,
    listening,
    ray_env,
    read_tables,
    study_args,
    trial_workers,
    undisturbed,
    wait_for,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("ray_session"),  # the undisturbed run
    pytest.mark.skipif(sys.platform != "linux", reason="reads processes and sockets (Linux)"),
    pytest.mark.skipif(shutil.which("ss") is None, reason="ss (iproute2) is not installed"),
]


def checkpoint_statuses(trial_dir: Path) -> list[str]:
    """The status in each checkpoint of a trial (skipping one being written or deleted)."""
    out = []
    for meta in trial_dir.glob("checkpoint_*/meta.json"):
        try:
            out.append(json.loads(meta.read_text())["status"])
        except (OSError, ValueError, KeyError):
            continue
    return out


def trial_mid_training(cluster: LocalCluster, experiment: Path) -> tuple[int, int, str] | None:
    """(worker node, trial worker PID, trial dir name) of a trial training on a worker node that
    has two checkpoints and has not finished, or None. A busy trial worker's working directory
    is named after its trial's folder."""
    import psutil

    for node in range(1, len(cluster.nodes)):
        for pid in trial_workers([cluster.raylet(node)]):
            try:
                proc = psutil.Process(pid)
                busy, name = proc.cmdline()[0].endswith(".train"), Path(proc.cwd()).name
            except (psutil.Error, IndexError):
                continue
            if not busy:  # an idle actor, kept for reuse: its folder is of a trial run before
                continue
            statuses = checkpoint_statuses(experiment / name)
            if len(statuses) >= 2 and "ok" not in statuses:
                return node, pid, name
    return None


def test_study_on_three_nodes_survives_the_loss_of_a_worker_node(tmp_path, tmp_path_factory):
    started = time.monotonic()
    experiment = tmp_path / "ray" / STUDY
    cluster = LocalCluster(workers=2)
    driver = None
    try:
        args = [*study_args(tmp_path), "--address", cluster.address]
        driver = Driver(args, tmp_path, ray_env(cluster.temp), tmp_path / "driver.log")
        seen = set()  # nodes that ran a trial: three 1-CPU trials, three 1-CPU nodes
        hit = None

        def look() -> bool:
            seen.update(i for i in range(3) if trial_workers([cluster.raylet(i)]))
            return not driver.alive()

        def victim():
            nonlocal hit
            look()
            found = trial_mid_training(cluster, experiment)
            if found:
                os.kill(found[1], signal.SIGSTOP)  # hung: it trains and reports no more
                if "ok" in checkpoint_statuses(experiment / found[2]):  # finished just now
                    os.kill(found[1], signal.SIGCONT)
                    return None
                hit = found
            return hit or not driver.alive()

        wait_for(victim, 300, "a trial mid-training on a worker node", every=0.01)
        assert hit, f"the study ended before a worker node could be lost\n{driver.tail()}"
        sockets = listening(cluster.pids() | descendants([driver.pid]))
        assert sockets, "no listening socket of the cluster was found"
        assert beyond_loopback(sockets) == [], sockets
        node, _, trial_dir = hit
        cluster.remove(node)
        wait_for(look, 300, "the study to finish", every=0.05)
        assert driver.wait(timeout=10) == 0, driver.tail()
    finally:
        if driver is not None:
            driver.kill_all()
        cluster.close()
    print(f"three nodes, one lost: {time.monotonic() - started:.0f} s")
    assert len(seen) >= 2, f"the trials ran on node(s) {seen} only"

    got = read_tables(tmp_path / "results")
    assert_each_row_once(*got)
    trials = {f"trial_{t.trial_id}": t for t in tune.ExperimentAnalysis(str(experiment)).trials}
    lost = trials[trial_dir]
    assert lost.run_metadata.num_failures == 1
    # restored from a checkpoint the lost node wrote, not retrained from the first epoch
    assert lost.last_result["iterations_since_restore"] < EPOCHS
    assert_same_tables(got, undisturbed(tmp_path_factory.getbasetemp()))

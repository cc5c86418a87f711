"""Studies when something goes wrong, under the session's local Ray (`ray_session`): a crashed,
diverged or errored trial, a killed driver resumed, Ctrl-C, a rerun with other trials.

The kill and Ctrl-C tests run a study as a separate driver process, so that it can be stopped:
the kill test as `python studies/eps_sweep.py`, the Ctrl-C test as `python -m nc_core study
eps_sweep` (what `nc-study` runs), whose exit status must be the script's.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from ray import tune

from nc_core.study.spec import StudyOptions, StudySpec
from nc_core.train.presets import preset
from nc_core.train.state import load_state
from nc_core.tune.run import run_study
from studies import eps_sweep
from tests.study_helpers import canonical, check_tables, read_tables

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("ray_session")


def test_crashed_trial_resumes_from_its_checkpoint_and_study_completes(tmp_path):
    crash = "--dataset synthetic --eps 0.1 --set epochs=4 --fail-at-epoch 2 --max-failures 1"
    eps_sweep.main(canonical(tmp_path, crash))
    epochs, layers = read_tables(tmp_path, "eps_sweep-smoke")
    check_tables(epochs, layers, trials=2, cfg=preset("smoke", dataset="synthetic", epochs=4))
    analysis = tune.ExperimentAnalysis(str(tmp_path / "ray" / "eps_sweep-smoke"))
    for trial in analysis.trials:
        assert trial.run_metadata.num_failures == 1
        assert "InjectedFailure" in (Path(trial.path) / "error.txt").read_text()
        # The retry restored epoch 1 from the checkpoint and trained epochs 2-4 only: three
        # iterations since the restore (a restart from scratch would have run four).
        assert trial.last_result["iterations_since_restore"] == 3
        kept = load_state(Path(trial.checkpoint.path) / "state.pt").records
        row = epochs[(epochs.trial_id == trial.trial_id) & (epochs.epoch == 1)].iloc[0]
        assert row.epoch_seconds == kept[0].epoch_seconds  # epoch 1: the pre-crash record


def test_diverged_trial_is_recorded_and_study_goes_on(tmp_path):
    spec = StudySpec(
        name="diverge",
        base=preset("smoke", dataset="synthetic", epochs=3),
        trials=({"lr": 1e12}, {}),
    )
    opts = StudyOptions(storage=str(tmp_path / "ray"), results=str(tmp_path / "results"), verbose=0)
    epochs = run_study(spec, opts).epochs
    status = epochs.groupby("lr").status.agg(set)
    assert status[1e12] == {"diverged"} and status[0.01] == {"ok"}
    assert len(epochs[epochs.lr == 0.01]) == 3 and len(epochs[epochs.lr == 1e12]) < 3


def test_rerun_with_different_trials_refuses_before_any_work(tmp_path):
    opts = StudyOptions(
        storage=str(tmp_path / "ray"),
        results=str(tmp_path / "results"),
        verbose=0,
        export_only=False,
    )
    base = preset("smoke", dataset="synthetic", epochs=1)
    run_study(StudySpec(name="same", base=base, trials=({"seed": 0},)), opts)
    stored = tmp_path / "ray" / "same" / "nc_study.json"
    before = stored.read_bytes()
    # the refusal names each setting that differs, stored vs asked, and both ways out
    other = StudySpec(name="same", base=base.replace(lr=0.5), trials=({"seed": 0}, {"seed": 1}))
    with pytest.raises(ValueError, match="different study") as refused:
        run_study(other, opts)
    text = str(refused.value)
    assert "lr stored 0.01, asked 0.5" in text
    assert "trials stored 1, asked 2; asked, not stored: 1 (s1)" in text
    assert "another --name" in text and "stored settings" in text
    assert stored.read_bytes() == before and len(list(stored.parent.glob("trial_*"))) == 1


def _finished_checkpoints(path: Path) -> tuple[int, int]:
    """(trials whose checkpoint says ok, trials with a 'running' checkpoint at epoch >= 2)."""
    ok, running = set(), set()
    for meta in path.glob("trial_*/checkpoint_*/meta.json"):
        try:
            m = json.loads(meta.read_text())
        except (OSError, ValueError):  # being written or deleted right now
            continue
        (ok if m["status"] == "ok" else running if m["epoch"] >= 2 else set()).add(meta.parts[-3])
    return len(ok), len(running - ok)


def _restored_from(named: Path) -> Path:
    """The checkpoint a resume restores a trial from: the one the saved state names, or, where
    the driver has pruned it since that state was saved, the trial's newest complete one, which
    the resume puts back at the named path (`nc_core.tune.repair`)."""
    if (named / "state.pt").is_file():
        return named
    complete = [
        (json.loads((c / "meta.json").read_text())["epoch"], c)
        for c in named.parent.glob("checkpoint_*")
        if (c / "state.pt").is_file() and (c / "meta.json").is_file()
    ]
    return max(complete)[1]


def _saved_state_has_both(path: Path) -> bool:
    """Whether Tune's last saved experiment state records a finished trial and an unfinished
    one with a checkpoint: the moment to kill the driver for the test below."""
    try:
        trials = tune.ExperimentAnalysis(str(path)).trials
    except Exception:  # noqa: BLE001 (no state yet, or one being replaced right now)
        return False
    done = {t.trial_id for t in trials if t.status == "TERMINATED"}
    return bool(done) and any(t.checkpoint is not None for t in trials if t.trial_id not in done)


def test_killed_study_resumes_without_rerunning_finished_trials(tmp_path):
    grid = "--eps 0.01 0.02 0.05 0.1 0.2 0.3 --max-concurrent 1 --dataset synthetic"
    args = canonical(tmp_path, f"{grid} --set epochs=12 --set width=256 --set nc_samples=none")
    path = tmp_path / "ray" / "eps_sweep-smoke"
    ray_tmp = tempfile.mkdtemp(prefix="ncray", dir="/tmp")
    env = {**os.environ, "RAY_TMPDIR": ray_tmp}
    driver = subprocess.Popen(
        [sys.executable, str(REPO / "studies" / "eps_sweep.py"), *args, "--num-cpus", "1"],
        cwd=tmp_path,
        env=env,
        start_new_session=True,  # its own group: Ray's processes too
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and driver.poll() is None:
            ok, running = _finished_checkpoints(path)
            if ok >= 2 and (running or ok >= 4) and _saved_state_has_both(path):
                break
            time.sleep(0.05)
        assert driver.poll() is None, "the study ended before it could be interrupted"
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and its whole local Ray
        driver.wait()
        shutil.rmtree(ray_tmp, ignore_errors=True)
    before = tune.ExperimentAnalysis(str(path)).trials
    finished = {t.trial_id: t.last_result for t in before if t.status == "TERMINATED"}
    assert finished, "no trial had finished in Tune's last saved state"
    saved = {
        t.trial_id: {
            r.epoch: r.epoch_seconds
            for r in load_state(_restored_from(Path(t.checkpoint.path)) / "state.pt").records
        }
        for t in before
        if t.checkpoint is not None
    }
    assert set(saved) > set(finished), "no unfinished trial had a checkpoint"

    eps_sweep.main(args)  # the same command again, in this process's Ray
    epochs, layers = read_tables(tmp_path, "eps_sweep-smoke")
    cfg = preset("smoke", dataset="synthetic", epochs=12, width=256, nc_samples=None)
    check_tables(epochs, layers, trials=7, cfg=cfg)
    after = {t.trial_id: t for t in tune.ExperimentAnalysis(str(path)).trials}
    for trial_id, last in finished.items():  # not rerun: Tune got no new result from them
        assert after[trial_id].last_result["timestamp"] == last["timestamp"]
    for trial_id, kept in saved.items():  # epochs up to each checkpoint were not retrained
        rows = epochs[(epochs.trial_id == trial_id) & epochs.epoch.isin(kept)]
        assert dict(zip(rows.epoch, rows.epoch_seconds, strict=True)) == kept


def test_study_with_an_errored_trial_writes_tables_and_exits_nonzero(tmp_path, capsys):
    crash = "--dataset synthetic --eps 0.1 --set epochs=3 --fail-at-epoch 2 --max-failures 0"
    code = eps_sweep.main(canonical(tmp_path, crash))
    out = capsys.readouterr().out
    assert code == 1
    epochs, _ = read_tables(tmp_path, "eps_sweep-smoke")
    assert set(epochs.status) == {"error"} and set(epochs.epoch) == {1}  # up to the checkpoint
    assert out.count("failed:") == 2 and "injected failure at epoch 2" in out


def test_ctrl_c_writes_the_tables_as_incomplete_and_exits_130(tmp_path):
    args = canonical(
        tmp_path, "--dataset synthetic --eps 0.1 --max-concurrent 1 --set epochs=40 --num-cpus 1"
    )
    ray_tmp = tempfile.mkdtemp(prefix="ncray", dir="/tmp")
    driver = subprocess.Popen(  # as `nc-study eps_sweep ...`: the same exit status as the script
        [sys.executable, "-m", "nc_core", "study", "eps_sweep", *args],
        cwd=tmp_path,
        env={**os.environ, "RAY_TMPDIR": ray_tmp, "PYTHONPATH": str(REPO)},
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 150
        path = tmp_path / "ray" / "eps_sweep-smoke"
        while time.monotonic() < deadline and driver.poll() is None:
            if any(path.glob("trial_*/checkpoint_*/meta.json")):
                break
            time.sleep(0.1)
        assert driver.poll() is None, "the study ended before it could be interrupted"
        driver.send_signal(signal.SIGINT)  # Ctrl-C: to the driver, as a terminal would
        output, _ = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert driver.returncode == 130, output[-2000:]
    epochs, layers = read_tables(tmp_path, "eps_sweep-smoke")
    assert "incomplete" in set(epochs.status) and len(layers)


def test_a_resume_puts_back_a_checkpoint_tune_deleted_after_its_state_was_saved(tmp_path):
    """Tune keeps two checkpoints a trial and deletes older ones as new ones come; a driver
    killed between a deletion and the next snapshot of the experiment state leaves a state that
    names a deleted checkpoint, beside a newer one. The resume copies the newer one there and
    the trial finishes, where Tune alone would fail it on every resume."""
    from dataclasses import replace

    from nc_core.tune.repair import repair_dangling_checkpoints

    spec = StudySpec(
        name="dangling", base=preset("smoke", dataset="synthetic", epochs=4), trials=({},)
    )
    opts = StudyOptions(
        storage=str(tmp_path / "ray"),
        results=str(tmp_path / "results"),
        verbose=0,
        checkpoint_every=1,
        fail_at_epoch=3,
        max_failures=0,
    )
    assert set(run_study(spec, opts).statuses.values()) == {"error"}
    experiment = tmp_path / "ray" / "dangling"
    named = Path(tune.ExperimentAnalysis(str(experiment)).trials[0].checkpoint.path)
    newer = named.with_name(f"checkpoint_{int(named.name.split('_')[1]) + 1:06d}")
    named.rename(newer)  # the state's checkpoint deleted, a newer one kept
    assert repair_dangling_checkpoints(str(experiment)) == [str(named)]
    assert (named / "state.pt").read_bytes() == (newer / "state.pt").read_bytes()
    resumed = run_study(spec, replace(opts, fail_at_epoch=None))
    assert set(resumed.statuses.values()) == {"ok"} and resumed.epochs.epoch.max() == 4

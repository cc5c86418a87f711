"""A stored study is never lost to its own storage: an export reads its settings from the stored
study alone, a corrupt checkpoint or an unreadable experiment state costs one trial's layer
rows (named) and never the study's tables, tables of another storage's study are never
replaced, and one driver runs a study at a time. Under the session's local Ray (`ray_session`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from nc_core.cli.main import study as nc_study
from studies import eps_sweep
from tests.study_helpers import read_tables

REPO = Path(__file__).resolve().parents[1]
NAME = "stored"
SETTINGS = (
    "--kinds canonical --dataset synthetic --eps 0.3 --set width=48 --set epochs=2 "
    "--set nc_samples=20"
)
pytestmark = pytest.mark.usefixtures("ray_session")


def place(tmp: Path) -> list[str]:
    """Where the study under `tmp` is: the options an export needs, and no others."""
    where = ["--storage", str(tmp / "ray"), "--results", str(tmp / "results")]
    return ["--verbose", "0", *where, "--name", NAME]


def original(tmp: Path) -> list[str]:
    """The command line the study under `tmp` ran with."""
    return ["--preset", "smoke", *place(tmp), *SETTINGS.split()]


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """eps_sweep's command line `argv`: (exit status, stdout, stderr)."""
    try:
        code = eps_sweep.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    return code, out.out, out.err


def split(text: str) -> list[str]:
    return text.split()


@pytest.fixture(scope="module")
def finished(tmp_path_factory, ray_session) -> Path:
    """A finished study of two trials (the baseline, eps 0.3) of two epochs, and its tables."""
    tmp = tmp_path_factory.mktemp("finished")
    assert eps_sweep.main(original(tmp)) == 0
    return tmp


@pytest.fixture
def study(finished, tmp_path) -> Path:
    """A copy of the finished study to break."""
    for part in ("ray", "results"):
        shutil.copytree(finished / part, tmp_path / part, symlinks=True)
    return tmp_path


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def trial_dirs(tmp: Path) -> list[Path]:
    return sorted((tmp / "ray" / NAME).glob("trial_*"))


def test_export_only_takes_every_setting_from_the_stored_study(study, capsys):
    before, _ = read_tables(study, NAME)
    (study / "results" / NAME / "epochs.parquet").unlink()
    code, _, err = run([*place(study), "--export-only"], capsys)  # placement options only
    assert code == 0, err
    epochs, layers = read_tables(study, NAME)
    pd.testing.assert_frame_equal(epochs, before)
    assert set(epochs.mlp_width) == {48} and set(epochs.epochs) == {2} and len(layers)


@pytest.mark.parametrize(
    "extra, named",
    [
        ("--preset quick --eps 0.1 0.3", ["mlp_width stored 48, asked 400", "epochs", "trials"]),
        ("--set width=999 --set lr=0.5", ["mlp_width stored 48, asked 999", "lr stored 0.01"]),
    ],
    ids=["other-preset-and-grid", "other-settings"],
)
def test_export_only_refuses_options_that_contradict_the_stored_study(study, extra, named, capsys):
    before = digest(study)
    code, _, err = run([*place(study), *extra.split(), "--export-only"], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    for words in named:
        assert words in lines[0], lines[0]
    assert digest(study) == before


def _flip(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) * 3 // 4] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_corrupt_checkpoint_costs_its_trial_the_layer_rows_and_is_named(study, capsys):
    bad, good = trial_dirs(study)
    newest = max(bad.glob("checkpoint_*"))
    _flip(newest / "state.pt")
    code, out, err = run([*place(study), "--export-only"], capsys)
    assert code == 1
    bad_id = bad.name.removeprefix("trial_")
    line = next(ln for ln in err.splitlines() if bad_id in ln)
    assert str(newest / "state.pt") in line and "corrupt" in line
    assert "Traceback" not in err
    epochs, layers = read_tables(study, NAME)
    assert epochs.groupby("trial_id").epoch.apply(sorted).map(tuple).to_dict() == {
        bad_id: (1, 2),  # epoch 1 from the older checkpoint, epoch 2 from its report
        good.name.removeprefix("trial_"): (1, 2),
    }
    per_trial = layers.groupby("trial_id").epoch.unique().map(sorted).to_dict()
    assert per_trial[bad_id] == [1] and per_trial[good.name.removeprefix("trial_")] == [1, 2]
    assert set(epochs.status) == {"ok"}


def test_every_checkpoint_of_a_trial_corrupt_leaves_its_reported_epochs(study, capsys):
    bad, good = trial_dirs(study)
    for checkpoint in bad.glob("checkpoint_*"):
        _flip(checkpoint / "state.pt")
    code, _, err = run([*place(study), "--export-only"], capsys)
    assert code == 1 and bad.name.removeprefix("trial_") in err
    epochs, layers = read_tables(study, NAME)
    bad_id = bad.name.removeprefix("trial_")
    assert sorted(epochs[epochs.trial_id == bad_id].epoch) == [1, 2]
    assert bad_id not in set(layers.trial_id) and len(layers)


def test_an_unreadable_experiment_state_is_rebuilt_from_the_trial_folders(study, capsys):
    before, _ = read_tables(study, NAME)
    for state in (study / "ray" / NAME).glob("experiment_state-*.json"):
        state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])  # cut short
    code, _, err = run([*place(study), "--export-only"], capsys)
    assert code == 1 and "rebuilt from the trial folders" in err
    epochs, layers = read_tables(study, NAME)
    keys = ["trial_id", "epoch", "test_acc", "status", "mlp_width", "eps"]
    pd.testing.assert_frame_equal(
        epochs[keys].sort_values(keys[:2]).reset_index(drop=True),
        before[keys].sort_values(keys[:2]).reset_index(drop=True),
    )
    assert len(layers)


def test_a_study_of_the_same_name_under_another_storage_never_replaces_the_tables(study, capsys):
    code, _, err = run([*place(study), "--export-only"], capsys)  # a copy keeps its tables
    assert code == 0, err
    before = digest(study / "results")
    other = ["--storage", str(study / "elsewhere"), "--set", "epochs=1"]
    code, _, err = run([*original(study), *other], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert str(study / "ray" / NAME) in lines[0] and str(study / "elsewhere" / NAME) in lines[0]
    assert digest(study / "results") == before
    assert not (study / "elsewhere").exists()


HOLD = """
import sys, time
from nc_core.study.lock import StudyLock
with StudyLock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_driver_of_a_running_study_is_refused_naming_the_first(study, capsys):
    lock = study / "ray" / NAME / "nc_study.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        before = digest(study)
        code, _, err = run(original(study), capsys)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1, err
        assert f"pid {holder.pid}" in lines[0]
        assert digest(study) == before
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_resuming_past_a_corrupt_checkpoint_finishes_the_others_and_names_it(tmp_path, capsys):
    argv = ["eps_sweep", *original(tmp_path), *split("--fail-at-epoch 2 --max-failures 0")]
    assert nc_study(argv) == 1  # nc-study keeps the exit status: two failed trials
    bad, good = trial_dirs(tmp_path)
    for checkpoint in bad.glob("checkpoint_*"):
        _flip(checkpoint / "state.pt")
    capsys.readouterr()
    assert nc_study(argv) == 1  # the rerun: the healthy trial resumes and finishes
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    bad_id, good_id = (d.name.removeprefix("trial_") for d in (bad, good))
    assert any(bad_id in ln and "corrupt" in ln for ln in out.err.splitlines()), out.err
    epochs, layers = read_tables(tmp_path, NAME)
    status = epochs.groupby("trial_id").status.agg(set).to_dict()
    assert status == {good_id: {"ok"}, bad_id: {"error"}}
    assert sorted(epochs[epochs.trial_id == good_id].epoch) == [1, 2]
    assert sorted(epochs[epochs.trial_id == bad_id].epoch) == [1]  # as reported before
    assert bad_id not in set(layers.trial_id)


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs, grown to 64 MiB by calling it; skipped where mounting needs root."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)])
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")

    def grow() -> None:
        subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)

    yield mnt, grow
    subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.slow
def test_a_full_disk_while_trials_checkpoint_keeps_every_reported_epoch(small_disk, capsys):
    disk, grow = small_disk
    tmp = disk.parent
    where = ["--storage", str(disk / "ray"), "--results", str(tmp / "results")]
    argv = [
        *split("--preset smoke --verbose 0 --name"),
        NAME,
        *where,
        *split("--kinds canonical --dataset synthetic --eps 0.3 --set width=256 --set epochs=4"),
        *split("--max-failures 0 --max-concurrent 1"),
    ]
    started = time.monotonic()
    try:
        code = eps_sweep.main(argv)
    except SystemExit as exit_:
        code = exit_.code
    out = capsys.readouterr()
    assert code == 1, out.out + out.err
    full = [ln for ln in out.out.splitlines() + out.err.splitlines() if "no space left" in ln]
    assert len(full) == 1 and f"at {disk} " in full[0], out.out + out.err
    epochs, _ = read_tables(tmp, NAME)
    for trial_dir in sorted((disk / "ray" / NAME).glob("trial_*")):
        # A trial reports an epoch once its checkpoint is stored whole: the newest whole
        # checkpoint is its last reported epoch, and the tables hold every epoch up to it.
        saved = [
            json.loads((c / "meta.json").read_text())["epoch"]
            for c in trial_dir.glob("checkpoint_*")
            if (c / "meta.json").is_file() and (c / "state.pt").is_file()
        ]
        rows = epochs[epochs.trial_id == trial_dir.name.removeprefix("trial_")]
        assert sorted(rows.epoch) == list(range(1, max(saved, default=0) + 1)), trial_dir
    assert len(epochs) < 8 and time.monotonic() - started < 300
    for path in disk.rglob("*"):
        assert ".nc-partial-" not in path.name, path  # no file of a failed write is left
    grow()
    assert eps_sweep.main(argv) == 0  # once there is room, the same command finishes it
    epochs, layers = read_tables(tmp, NAME)
    assert len(epochs) == 8 and set(epochs.status) == {"ok"} and len(layers)

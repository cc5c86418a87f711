"""Every bad input is refused before any work: exit status 2, one line on stderr naming the
field, no traceback, and no file created or changed (README: "Bad input").

Most cases call each command's `main(argv)` in this process (fast); `SUBPROCESS` cases run the
real command line, to check the exit status and that no traceback is printed.
"""

from __future__ import annotations

import copy
import errno
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from nc_core.cli.study import add_study_args, study_parser
from nc_core.cli.train import main as train_main
from nc_core.fields import choices
from nc_core.results.pair import write_pair
from nc_core.results.records import to_frames
from nc_core.train.config import RunConfig
from nc_core.train.loop import train
from nc_core.train.presets import preset
from nc_core.train.state import save_state
from studies import depth_width, eps_sweep, vit_blocks
from tests.fake_datasets import mnist_arrays, write_mnist_family
from tests.synthetic_results import make_results
from tests.test_bad_inputs_figures import CASES as FIGURE_CASE_TABLE

REPO = Path(__file__).resolve().parents[1]
NO_CUDA = not torch.cuda.is_available()

TRAIN = ["--preset", "smoke", "--dataset", "synthetic", "--quiet"]
# (case id, extra arguments ({tmp}: the test's folder), text the error line must contain)
TRAIN_CASES = [
    ("lr-nan", ["--lr", "nan"], "lr"),
    ("lr-inf", ["--lr", "inf"], "lr"),
    ("lr-text", ["--lr", "abc"], "--lr"),
    ("momentum-nan", ["--momentum", "nan"], "momentum"),
    ("momentum-above-1", ["--momentum", "1.5"], "momentum"),
    ("weight-decay-inf", ["--weight-decay", "inf"], "weight_decay"),
    ("eps-nan", ["--eps", "nan"], "eps"),
    ("eps-above-1", ["--eps", "2"], "eps"),
    (
        "dropout-nan",
        ["--model", "vit", "--dataset", "fashion_mnist", "--vit-dropout", "nan"],
        "vit_dropout",
    ),
    ("option-of-another-model", ["--vit-dropout", "0.1"], "an option of model 'vit'"),
    ("option-no-model-has", ["--dim", "8"], "has no option 'dim'"),
    ("seed-negative", ["--seed", "-1"], "seed"),
    (
        "etf-blocks-past-depth",
        ["--model", "vit", "--dataset", "fashion_mnist", "--etf-blocks", "last:99"],
        "etf_blocks",
    ),
    (
        "etf-blocks-garbage",
        ["--model", "vit", "--dataset", "fashion_mnist", "--etf-blocks", "foo"],
        "etf_blocks",
    ),
    ("etf-blocks-on-mlp", ["--etf-blocks", "all"], "etf_blocks"),
    ("device-unknown", ["--device", "foo"], "device"),
    pytest.param(
        "device-cuda-absent",
        ["--device", "cuda"],
        "device",
        marks=pytest.mark.skipif(not NO_CUDA, reason="CUDA is present"),
    ),
    ("subset-above-synthetic-class", ["--subset", "301"], "subset"),
    ("subset-above-fmnist-class", ["--dataset", "fashion_mnist", "--subset", "6001"], "subset"),
    ("fix-from-past-depth", ["--policy", "static", "--fix-from", "4"], "fix_from"),
    ("num-classes-1", ["--num-classes", "1"], "num_classes"),
    ("epochs-0", ["--epochs", "0"], "epochs"),
    ("batch-size-0", ["--batch-size", "0"], "batch_size"),
    ("depth-1", ["--depth", "1"], "depth"),
    ("policy-unknown", ["--policy", "sometimes"], "policy"),
    ("kind-unknown", ["--kind", "ortho"], "kind"),
    (
        "vit-patch",
        ["--model", "vit", "--dataset", "fashion_mnist", "--vit-patch", "5"],
        "vit_patch",
    ),
    ("warmup-negative", ["--warmup-epochs", "-1"], "warmup_epochs"),
    ("max-fixed-negative", ["--max-fixed", "-1"], "max_fixed"),
    ("nc-samples-0", ["--nc-samples", "0"], "nc_samples"),
    ("preset-unknown", ["--preset", "huge"], "--preset"),
    ("out-not-parquet", ["--out", "{tmp}/run.csv"], "--out"),
    ("out-is-directory", ["--out", "{tmp}/adir"], "--out"),
    ("out-under-a-file", ["--out", "{tmp}/afile/run.parquet"], "--out"),
    ("out-read-only-place", ["--out", "/proc/nc_core_test/run.parquet"], "--out"),
    ("checkpoint-is-directory", ["--checkpoint", "{tmp}/adir"], "--checkpoint"),
    (
        "checkpoint-is-out",
        ["--out", "{tmp}/r.parquet", "--checkpoint", "{tmp}/r.parquet"],
        "--checkpoint",
    ),
    (
        "checkpoint-is-layer-table",
        ["--out", "{tmp}/r.parquet", "--checkpoint", "{tmp}/r.layers.parquet"],
        "--checkpoint",
    ),
    ("checkpoint-empty", ["--checkpoint", "{tmp}/empty.pt"], "corrupt"),
    ("checkpoint-garbage", ["--checkpoint", "{tmp}/garbage.pt"], "corrupt"),
    ("checkpoint-truncated", ["--checkpoint", "{tmp}/truncated.pt"], "corrupt"),
    ("checkpoint-bit-flipped", ["--checkpoint", "{tmp}/flipped.pt"], "corrupt"),
    ("checkpoint-other-config", ["--checkpoint", "{tmp}/valid.pt", "--width", "32"], "width"),
    ("checkpoint-past-epochs", ["--checkpoint", "{tmp}/valid.pt", "--epochs", "1"], "epochs"),
    ("checkpoint-missing-keys", ["--checkpoint", "{tmp}/missing_keys.pt"], "--checkpoint"),
    ("checkpoint-wrong-shapes", ["--checkpoint", "{tmp}/wrong_shapes.pt"], "--checkpoint"),
    ("batch-size-lone-last-sample", ["--batch-size", "999"], "batch_size"),  # 1000 samples, BN
    (
        "etf-of-width-1",
        [
            *("--num-classes", "2", "--width", "1", "--kind", "rotated"),
            *("--policy", "static", "--fix-from", "1"),
        ],
        "width",
    ),
    pytest.param(
        "device-mps-absent",
        ["--device", "mps"],
        "device",
        marks=pytest.mark.skipif(torch.backends.mps.is_available(), reason="MPS is present"),
    ),
    ("device-cuda-index-absent", ["--device", f"cuda:{torch.cuda.device_count()}"], "device"),
    (
        "etf-blocks-superscript",
        ["--model", "vit", "--dataset", "fashion_mnist", "--etf-blocks", "\u00b2"],
        "etf_blocks",
    ),
    ("data-dir-a-file", [], "NC_DATA_DIR"),
    # a named folder is the only place looked: no silent fall-back to Debian's copy
    ("data-dir-absent", ["--dataset", "fashion_mnist"], "NC_DATA_DIR"),
    ("data-dir-without-the-dataset", ["--dataset", "fashion_mnist"], "NC_DATA_DIR"),
    ("idx-truncated", ["--dataset", "mnist"], "train-images-idx3-ubyte"),
    ("idx-label-outside-k", ["--dataset", "mnist"], "label 12 outside 0..9"),
]
# Environment of a case ({tmp}: the test's folder); each unset variable is removed.
CASE_ENV = {
    "train/data-dir-a-file": {"NC_DATA_DIR": "{tmp}/afile"},
    "train/data-dir-absent": {"NC_DATA_DIR": "{tmp}/nonexistent"},
    "train/data-dir-without-the-dataset": {"NC_DATA_DIR": "{tmp}"},
    "study/data-dir-absent": {"NC_DATA_DIR": "{tmp}/nonexistent"},
    "train/idx-truncated": {"NC_DATA_DIR": "{tmp}/mnist_truncated"},
    "train/idx-label-outside-k": {"NC_DATA_DIR": "{tmp}/mnist_bad_label"},
    "study/data-dir-a-file": {"NC_DATA_DIR": "{tmp}/afile"},
    "study/idx-truncated": {"NC_DATA_DIR": "{tmp}/mnist_truncated"},
    "study/address-auto-none-running": {"RAY_TMPDIR": "{tmp}/adir", "RAY_ADDRESS": None},
}

STUDY = [
    "--preset",
    "smoke",
    "--verbose",
    "0",
    "--storage",
    "{tmp}/ray",
    "--results",
    "{tmp}/results",
]
STUDY_CASES = [
    ("set-lr-nan", eps_sweep, ["--set", "lr=nan"], "lr"),
    ("set-lr-text", eps_sweep, ["--set", "lr=abc"], "lr"),
    ("set-unknown-field", eps_sweep, ["--set", "widht=3"], "widht"),
    ("set-momentum-inf", eps_sweep, ["--set", "momentum=inf"], "momentum"),
    ("seed-negative", eps_sweep, ["--seeds", "-1"], "seed"),
    ("num-samples-0", eps_sweep, ["--search", "optuna", "--num-samples", "0"], "num_samples"),
    ("num-cpus-0", eps_sweep, ["--num-cpus", "0"], "num_cpus"),
    (
        "cpus-per-trial-above-ray",
        eps_sweep,
        ["--num-cpus", "2", "--cpus-per-trial", "3"],
        "cpus_per_trial",
    ),
    ("cpus-per-trial-nan", eps_sweep, ["--cpus-per-trial", "nan"], "cpus_per_trial"),
    pytest.param(
        "gpus-per-trial-absent",
        eps_sweep,
        ["--gpus-per-trial", "1"],
        "gpus_per_trial",
        marks=pytest.mark.skipif(not NO_CUDA, reason="CUDA is present"),
    ),
    ("max-concurrent-0", eps_sweep, ["--max-concurrent", "0"], "max_concurrent"),
    ("max-failures-negative", eps_sweep, ["--max-failures", "-1"], "max_failures"),
    ("checkpoint-every-0", eps_sweep, ["--checkpoint-every", "0"], "checkpoint_every"),
    ("fail-at-epoch-0", eps_sweep, ["--fail-at-epoch", "0"], "fail_at_epoch"),
    ("verbose-5", eps_sweep, ["--verbose", "5"], "--verbose"),
    pytest.param(
        "device-cuda-absent",
        eps_sweep,
        ["--set", "device=cuda"],
        "device",
        marks=pytest.mark.skipif(not NO_CUDA, reason="CUDA is present"),
    ),
    (
        "num-classes-1",
        eps_sweep,
        ["--dataset", "synthetic", "--set", "num_classes=1"],
        "num_classes",
    ),
    ("subset-above-class", eps_sweep, ["--dataset", "synthetic", "--set", "subset=301"], "subset"),
    ("eps-above-1", eps_sweep, ["--eps", "2"], "eps"),
    ("kinds-unknown", eps_sweep, ["--kinds", "ortho"], "--kinds"),
    ("name-with-space", eps_sweep, ["--name", "a b"], "name"),
    ("preset-unknown", eps_sweep, ["--preset", "huge"], "--preset"),
    ("storage-is-a-file", eps_sweep, ["--storage", "{tmp}/afile"], "--storage"),
    ("results-is-a-file", eps_sweep, ["--results", "{tmp}/afile"], "--results"),
    ("storage-read-only-place", eps_sweep, ["--storage", "/proc/nc_core_test"], "--storage"),
    ("depths-1", depth_width, ["--depths", "1"], "depth"),
    ("widths-0", depth_width, ["--widths", "0"], "width"),
    ("kind-unknown", depth_width, ["--kind", "ortho"], "--kind"),
    ("blocks-past-depth", vit_blocks, ["--blocks", "last:5"], "etf_blocks"),
    ("blocks-garbage", vit_blocks, ["--blocks", "foo"], "etf_blocks"),
    ("vit-synthetic", vit_blocks, ["--dataset", "synthetic"], "dataset"),
    ("linears-unknown", vit_blocks, ["--linears", "fc3"], "--linears"),
    ("name-empty", eps_sweep, ["--name", ""], "name"),
    ("name-300-characters", eps_sweep, ["--name", "a" * 300], "name"),
    ("name-not-ascii", eps_sweep, ["--name", "caf\u00e9"], "name"),
    ("storage-file-uri-read-only", eps_sweep, ["--storage", "file:///proc/x"], "--storage"),
    ("storage-unknown-scheme", eps_sweep, ["--storage", "foo://bar"], "--storage"),
    ("export-only-no-such-study", eps_sweep, ["--export-only", "--name", "nosuch"], "nosuch"),
    ("cpus-per-trial-below-ray-step", eps_sweep, ["--cpus-per-trial", "0.00001"], "cpus_per_trial"),
    ("gpus-per-trial-below-ray-step", eps_sweep, ["--gpus-per-trial", "0.00001"], "gpus_per_trial"),
    ("optuna-with-eps", eps_sweep, ["--search", "optuna", "--eps", "0.9"], "--eps"),
    (
        "optuna-with-two-kinds",
        eps_sweep,
        ["--search", "optuna", "--kinds", "canonical", "rotated"],
        "--kinds",
    ),
    ("eps-7", depth_width, ["--eps", "7"], "--eps"),
    ("address-closed-port", eps_sweep, ["--address", "127.0.0.1:{closed}"], "--address"),
    ("address-auto-none-running", eps_sweep, ["--address", "auto"], "--address auto"),
    ("data-dir-a-file", eps_sweep, [], "NC_DATA_DIR"),
    ("data-dir-absent", eps_sweep, ["--dataset", "fashion_mnist"], "NC_DATA_DIR"),
    ("idx-truncated", eps_sweep, ["--dataset", "mnist"], "train-images-idx3-ubyte"),
    (
        "batch-size-lone-last-sample",
        eps_sweep,
        ["--dataset", "synthetic", "--set", "batch_size=999"],
        "batch_size",
    ),
    (
        "etf-of-width-1",
        depth_width,
        ["--dataset", "synthetic", "--widths", "1", "--set", "num_classes=2", "--kind", "rotated"],
        "width",
    ),
    pytest.param(
        "device-mps-absent",
        eps_sweep,
        ["--set", "device=mps"],
        "device",
        marks=pytest.mark.skipif(torch.backends.mps.is_available(), reason="MPS is present"),
    ),
]
# Real processes for a sample: exit status, one stderr line, no traceback.
SUBPROCESS = {
    "train/lr-nan",
    "train/checkpoint-bit-flipped",
    "train/out-is-directory",
    "study/num-cpus-0",
    "study/cpus-per-trial-above-ray",
    "study/blocks-past-depth",
}

# ---------------------------------------------------------------- analysis/make_figures.py
# Its cases need a results folder to break, so they and their runner live beside this file, in
# tests/test_bad_inputs_figures.py (same assertions: exit 2, one line, nothing written); counted
# here so the matrix is one list.
FIGURES_CASES = list(FIGURE_CASE_TABLE)


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory) -> Path:
    """Files the cases point at: a valid checkpoint of the smoke synthetic run and broken
    copies of it, a plain file, a folder."""
    d = tmp_path_factory.mktemp("fixtures")
    state = train(preset("smoke", dataset="synthetic", epochs=2)).state
    save_state(state, d / "valid.pt")
    data = (d / "valid.pt").read_bytes()
    (d / "truncated.pt").write_bytes(data[: len(data) // 2])
    flipped = bytearray(data)
    flipped[len(data) * 3 // 4] ^= 0x01  # inside the tensor data, past the header
    (d / "flipped.pt").write_bytes(bytes(flipped))
    (d / "empty.pt").write_bytes(b"")
    (d / "garbage.pt").write_bytes(os.urandom(4096))
    # checksums that match, over states this config's model cannot take
    missing = copy.deepcopy(state)
    missing.model = {k: v for k, v in state.model.items() if not k.startswith("fc2.")}
    save_state(missing, d / "missing_keys.pt")
    wrong = copy.deepcopy(state)
    wrong.model["fc1.weight"] = torch.zeros(3, 3)
    save_state(wrong, d / "wrong_shapes.pt")
    (d / "afile").write_text("not a folder\n")
    (d / "adir").mkdir()
    raw = write_mnist_family(d / "mnist_truncated", "MNIST")
    images = raw / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[: images.stat().st_size // 2])
    arrays = mnist_arrays()
    arrays["train_y"] = arrays["train_y"].copy()
    arrays["train_y"][3] = 12
    write_mnist_family(d / "mnist_bad_label", "MNIST", arrays)
    make_results(d / "results", studies=("eps_sweep",))
    run = train(preset("smoke", dataset="synthetic", epochs=1))
    write_pair(*to_frames(run.records, run.cfg), d / "run.parquet", d / "run.layers.parquet")
    return d


def snapshot(root: Path) -> dict:
    """Every path under `root` (and root itself) with its kind, size and mtime."""
    out = {".": root.stat().st_mtime_ns}
    for p in sorted(root.rglob("*")):
        st = p.stat()
        out[str(p.relative_to(root))] = (p.is_dir(), st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture
def workdir(tmp_path, fixtures, monkeypatch) -> Path:
    for p in fixtures.iterdir():
        if p.is_dir():
            shutil.copytree(p, tmp_path / p.name)
        else:
            shutil.copy2(p, tmp_path / p.name)
    monkeypatch.chdir(tmp_path)  # a default relative output would land here
    return tmp_path


def _params(cases: list) -> list:
    """Each case as a pytest.param whose id is its name."""
    out = []
    for c in cases:
        values, marks = (c.values, c.marks) if hasattr(c, "values") else (c, ())
        out.append(pytest.param(*values, marks=marks, id=values[0]))
    return out


def closed_port() -> int:
    """A port of 127.0.0.1 that nothing listens on (just bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fill(args: list[str], tmp: Path) -> list[str]:
    port = str(closed_port())
    return [a.replace("{tmp}", str(tmp)).replace("{closed}", port) for a in args]


def _environ(key: str, tmp: Path, monkeypatch) -> dict[str, str]:
    """Set case `key`'s environment (CASE_ENV) here; the whole environment for a subprocess."""
    for name, value in CASE_ENV.get(key, {}).items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value.replace("{tmp}", str(tmp)))
    return dict(os.environ)


def _run_main(main, argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def _run_process(
    script: list[str], argv: list[str], cwd: Path, env: dict | None = None
) -> tuple[int, str]:
    env = {
        **(os.environ if env is None else env),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, *script, *argv], cwd=cwd, env=env, capture_output=True, text=True
    )
    return proc.returncode, proc.stderr


def _check(code: int, err: str, field: str, before: dict, after: dict) -> None:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err
    assert field in lines[0], lines[0]
    assert after == before, "files were created or changed"


@pytest.mark.parametrize("case, extra, field", _params(TRAIN_CASES))
def test_train_refuses(case, extra, field, workdir, capsys, monkeypatch):
    argv = _fill(TRAIN + extra, workdir)
    env = _environ(f"train/{case}", workdir, monkeypatch)
    before = snapshot(workdir)
    if f"train/{case}" in SUBPROCESS:
        code, err = _run_process(["-m", "nc_core.train"], argv, workdir, env)
    else:
        code, err = _run_main(train_main, argv, capsys)
    _check(code, err, field, before, snapshot(workdir))


@pytest.mark.parametrize("case, study, extra, field", _params(STUDY_CASES))
def test_study_refuses(case, study, extra, field, workdir, capsys, monkeypatch):
    argv = _fill(STUDY + extra, workdir)
    env = _environ(f"study/{case}", workdir, monkeypatch)
    before = snapshot(workdir)
    started = time.monotonic()
    if f"study/{case}" in SUBPROCESS:
        script = REPO / "studies" / f"{study.__name__.rsplit('.', 1)[-1]}.py"
        code, err = _run_process([str(script)], argv, workdir, env)
    else:
        code, err = _run_main(study.main, argv, capsys)
    _check(code, err, field, before, snapshot(workdir))
    if f"study/{case}" not in SUBPROCESS:  # a Ray address that never answers is no exception
        assert time.monotonic() - started < 10, "a refusal must come within seconds"


def _figures_study_file(content: str):
    def setup(tmp: Path) -> list[str]:
        marker = tmp / "results" / "ray" / "eps_sweep" / "nc_study.json"
        marker.parent.mkdir(parents=True)
        marker.write_text(content)
        return []

    return setup


def _figures_nan_test_acc(tmp: Path) -> list[str]:
    path = tmp / "results" / "eps_sweep" / "epochs.parquet"
    table = pq.read_table(path)
    frame = table.to_pandas()
    frame["test_acc"] = float("nan")  # the pair's stamp is kept: only the column is bad
    pq.write_table(
        pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(
            table.schema.metadata
        ),
        path,
    )
    return []


def _none(tmp: Path) -> list[str]:
    return []


def _study_outside(tmp: Path) -> list[str]:
    shutil.copytree(tmp / "results" / "eps_sweep", tmp / "x")  # a study beside --results
    return ["--study", "../x"]


FIGURES = ["--results", "{tmp}/results", "--out", "{tmp}/figures"]
# The other commands: (case id, command, setup of the folder -> more arguments, arguments, text
# the error line must contain). Commands: nc-study, python -m nc_core, nc-collect, nc-figures.
OTHER_CASES = [
    ("nc-study-unknown-study", "nc-study", _none, ["foo"], "no study 'foo'"),
    ("nc-study-no-study", "nc-study", _none, [], "give a study"),
    ("nc-core-unknown-command", "nc_core", _none, ["foo"], "no command 'foo'"),
    ("nc-core-no-command", "nc_core", _none, [], "give a command"),
    (
        "collect-out-a-file",
        "collect",
        _none,
        ["--study", "x", "--out", "{tmp}/afile", "{tmp}/run.parquet"],
        "--out",
    ),
    (
        "collect-out-read-only",
        "collect",
        _none,
        ["--study", "x", "--out", "/proc/nc_core_test", "{tmp}/run.parquet"],
        "--out",
    ),
    (
        "collect-study-outside-results",
        "collect",
        _none,
        ["--study", "../x", "{tmp}/run.parquet"],
        "--study",
    ),
    ("collect-no-argument", "collect", _none, [], "--study"),
    ("figures-study-file-a-list", "figures", _figures_study_file("[]"), FIGURES, "nc_study.json"),
    (
        "figures-study-file-no-study",
        "figures",
        _figures_study_file('{"kind": "bogus"}'),
        FIGURES,
        "not a study file",
    ),
    ("figures-test-acc-all-nan", "figures", _figures_nan_test_acc, FIGURES, "test_acc"),
    ("figures-study-outside-results", "figures", _study_outside, FIGURES, "--study"),
    (
        "figures-storage-a-file",
        "figures",
        _none,
        [*FIGURES, "--storage", "{tmp}/afile"],
        "--storage",
    ),
]


def _command(name: str):
    from analysis.make_figures import main as figures_main
    from nc_core.cli import main as cli
    from nc_core.results.collect import main as collect_main

    return {"nc-study": cli.study, "nc_core": cli.main, "collect": collect_main}.get(
        name, figures_main
    )


@pytest.mark.parametrize("case, command, setup, extra, field", _params(OTHER_CASES))
def test_other_commands_refuse(case, command, setup, extra, field, workdir, capsys):
    more = setup(workdir)
    argv = _fill(extra + more, workdir)
    before = snapshot(workdir)
    code, err = _run_main(_command(command), argv, capsys)
    _check(code, err, field, before, snapshot(workdir))


# ---------------------------------------------------------------- failures once work started
# One line on stderr naming what failed and what was kept, exit status 1, everything done kept.


@pytest.fixture
def tiny_disk(tmp_path):
    """An 8 KiB tmpfs (root only; skipped elsewhere: the injected failures below cover it)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _one_failure_line(code: int, err: str, *words: str) -> str:
    lines = err.strip().splitlines()
    assert code == 1, err
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_checkpoint_on_a_full_disk_is_one_line_and_keeps_the_epochs_done(
    tmp_path, tiny_disk, capsys
):
    out = tmp_path / "run.parquet"
    argv = [*TRAIN, "--out", str(out), "--checkpoint", str(tiny_disk / "run.pt")]
    code, err = _run_main(train_main, argv, capsys)
    _one_failure_line(code, err, "--checkpoint", "No space left", str(tiny_disk))
    assert len(pd.read_parquet(out)) == 1  # the epoch trained before the save failed
    assert not [p for p in tiny_disk.iterdir()], "a temporary file was left on the disk"


def test_out_on_a_full_disk_is_one_line_keeps_the_checkpoint_and_resumes(
    tmp_path, tiny_disk, capsys
):
    checkpoint = tmp_path / "run.pt"
    out = tiny_disk / "run.parquet"
    argv = [*TRAIN, "--epochs", "1", "--out", str(out), "--checkpoint", str(checkpoint)]
    code, err = _run_main(train_main, argv, capsys)
    line = _one_failure_line(code, err, "--out", "No space left", str(tiny_disk))
    assert str(checkpoint) in line and checkpoint.is_file()
    left = [p for p in tiny_disk.rglob("*") if p.is_file() and p.name != "lock"]
    assert not left, "a partial table was left"
    subprocess.run(["mount", "-o", "remount,size=16m", str(tiny_disk)], check=True)
    assert _run_main(train_main, argv, capsys)[0] == 0  # resumed at the end: writes --out
    assert len(pd.read_parquet(out)) == 1


@pytest.mark.parametrize("fails", ["--checkpoint", "--out"])
def test_an_injected_write_failure_is_one_line_exit_1(fails, tmp_path, monkeypatch, capsys):
    import nc_core.cli.train as cli_train
    import nc_core.train.state as state_module

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device (injected)")

    if fails == "--checkpoint":
        monkeypatch.setattr(state_module, "save_state", no_space)
    else:
        monkeypatch.setattr(cli_train, "write_pair", no_space)
    outputs = ["--out", str(tmp_path / "run.parquet"), "--checkpoint", str(tmp_path / "r.pt")]
    argv = [*TRAIN, "--epochs", "1", *outputs]
    code, err = _run_main(train_main, argv, capsys)
    _one_failure_line(code, err, fails, "No space left")


def test_matrix_has_at_least_40_cases():
    cases = TRAIN_CASES + STUDY_CASES + FIGURES_CASES + OTHER_CASES
    assert len(cases) >= 40


def test_help_shows_choices_from_the_literal_types_and_each_default_once():
    from nc_core.cli.train import build_parser

    text = " ".join(build_parser().format_help().split())
    models = ",".join(choices(RunConfig, "model"))
    assert (
        f"--model {{{models}}}" in text and "--kind {canonical,rotated,orthogonal,freeze}" in text
    )
    assert text.count("MLP hidden width (default 400)") == 1  # --width, read against --model
    parser = study_parser(eps_sweep.__doc__)
    add_study_args(parser, name="x")
    study = " ".join(parser.format_help().split())
    assert "--scheduler {none,asha}" in study and "--verbose {0,1,2}" in study
    assert study.count("(default: results/ray)") == 1 and "default: None" not in study

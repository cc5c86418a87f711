"""Every bad input is refused before any work: exit status 2, one line on stderr naming the
field, no traceback, and no file created or changed (README: "Bad input").

Most cases call each command's `main(argv)` in this process (fast); `SUBPROCESS` cases run the
real command line, to check the exit status and that no traceback is printed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nc_core.cli.study import add_study_args, study_parser
from nc_core.cli.train import main as train_main
from nc_core.train.loop import train
from nc_core.train.presets import preset
from nc_core.train.state import save_state
from studies import depth_width, eps_sweep, vit_blocks
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
]

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
    (d / "afile").write_text("not a folder\n")
    (d / "adir").mkdir()
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


def _fill(args: list[str], tmp: Path) -> list[str]:
    return [a.replace("{tmp}", str(tmp)) for a in args]


def _run_main(main, argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    return code, capsys.readouterr().err


def _run_process(script: list[str], argv: list[str], cwd: Path) -> tuple[int, str]:
    env = {
        **os.environ,
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
def test_train_refuses(case, extra, field, workdir, capsys):
    argv = _fill(TRAIN + extra, workdir)
    before = snapshot(workdir)
    if f"train/{case}" in SUBPROCESS:
        code, err = _run_process(["-m", "nc_core.train"], argv, workdir)
    else:
        code, err = _run_main(train_main, argv, capsys)
    _check(code, err, field, before, snapshot(workdir))


@pytest.mark.parametrize("case, study, extra, field", _params(STUDY_CASES))
def test_study_refuses(case, study, extra, field, workdir, capsys):
    argv = _fill(STUDY + extra, workdir)
    before = snapshot(workdir)
    if f"study/{case}" in SUBPROCESS:
        script = REPO / "studies" / f"{study.__name__.rsplit('.', 1)[-1]}.py"
        code, err = _run_process([str(script)], argv, workdir)
    else:
        code, err = _run_main(study.main, argv, capsys)
    _check(code, err, field, before, snapshot(workdir))


def test_matrix_has_at_least_40_cases():
    assert len(TRAIN_CASES) + len(STUDY_CASES) + len(FIGURES_CASES) >= 40


def test_help_shows_choices_from_the_literal_types_and_each_default_once():
    from nc_core.cli.train import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "--model {mlp,vit,cnn," in text
    assert "--kind {canonical,rotated,orthogonal,freeze}" in text
    assert text.count("MLP hidden width (default 400)") == 1  # --width, read against --model
    parser = study_parser(eps_sweep.__doc__)
    add_study_args(parser, name="x")
    study = " ".join(parser.format_help().split())
    assert "--scheduler {none,asha}" in study and "--verbose {0,1,2}" in study
    assert study.count("(default: results/ray)") == 1 and "default: None" not in study

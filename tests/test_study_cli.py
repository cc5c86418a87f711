"""What a study script decides before Ray runs anything: its spec and --set options checked,
its default name, and the Pareto front it saves. No Ray is started here."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from nc_core.cli.study import add_study_args, base_config, study_name
from nc_core.study.spec import StudySpec
from nc_core.study.summary import pareto_front
from nc_core.train.presets import preset
from studies import eps_sweep, vit_blocks
from tests.study_helpers import common

STUDIES = Path(__file__).resolve().parents[1] / "studies"


def test_study_spec_and_set_options_reject_bad_input_early(tmp_path):
    base = preset("smoke")
    with pytest.raises(ValueError, match="not a run field"):
        StudySpec(name="x", base=base, trials=({"epsilon": 0.1},))
    with pytest.raises(ValueError, match="eps"):
        StudySpec(name="x", base=base, trials=({"eps": 2.0},))
    with pytest.raises(ValueError, match="either"):
        StudySpec(name="x", base=base)
    parser = argparse.ArgumentParser()
    add_study_args(parser, name="x")
    args = parser.parse_args(
        [
            "--preset",
            "smoke",
            "--set",
            "subset=none",
            "--set",
            "lr=0.1",
            "--set",
            "batch_norm=false",
        ]
    )
    cfg = base_config(args)
    assert (cfg.subset, cfg.lr, cfg.arch.batch_norm) == (None, 0.1, False)
    with pytest.raises(ValueError, match="widht"):
        base_config(parser.parse_args(["--set", "widht=3"]))
    with pytest.raises(SystemExit):  # a command-line error, before anything is written
        vit_blocks.main(common(tmp_path, "--blocks", "last:5"))
    assert not (tmp_path / "ray").exists()


def test_study_names_default_to_script_and_preset_so_sizes_never_collide():
    parser = argparse.ArgumentParser()
    add_study_args(parser, name="eps_sweep")
    presets = ("smoke", "quick", "paper")
    names = [study_name(parser.parse_args(["--preset", p]), "eps_sweep") for p in presets]
    assert names == ["eps_sweep-smoke", "eps_sweep-quick", "eps_sweep-paper"]
    assert study_name(parser.parse_args(["--name", "mine"]), "eps_sweep") == "mine"


def test_pareto_front_keeps_exactly_the_non_dominated_rows():
    df = pd.DataFrame({"acc": [0.9, 0.8, 0.85, 0.7, 0.9], "params": [100, 50, 80, 50, 120]})
    front = pareto_front(df, (("acc", "max"), ("params", "min")))
    assert sorted(front.index) == [0, 1, 2]  # 3 is dominated by 1, 4 by 0


@pytest.mark.parametrize(
    "command",
    [["-m", "nc_core.train"], *[[str(p)] for p in sorted(STUDIES.glob("[a-z]*.py"))]],
    ids=lambda c: Path(c[-1]).stem if c[-1].endswith(".py") else "train",
)
def test_every_option_of_every_command_line_has_help_text(command):
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    done = subprocess.run(
        [sys.executable, *command, "--help"], capture_output=True, text=True, env=env, cwd=repo
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("options:", 1)[1].splitlines()
    bare = []
    for i, line in enumerate(lines):
        if not re.match(r"^  -", line):
            continue
        flags, _, text = line.strip().partition("  ")
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if not text.strip() and not re.match(r"^ {10,}\S", following):
            bare.append(flags)
    assert bare == [], f"options without help: {bare}"


def print_name(*argv: str) -> str:
    """The study name `python studies/eps_sweep.py ARGV` gives its study (`--print-name`)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert eps_sweep.main([*argv, "--print-name"]) == 0
    return out.getvalue().strip()


def test_make_and_the_script_give_a_study_the_same_name_from_one_declaration_of_defaults():
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    repo = Path(__file__).resolve().parents[1]
    cases = [
        ([], []),
        (["PRESET=smoke"], ["--preset", "smoke"]),
        (["SEEDS=0 1 2"], ["--seeds", "0", "1", "2"]),
        (["KINDS=canonical rotated"], ["--kinds", "canonical", "rotated"]),
        (["NAME=mine", "PRESET=smoke"], ["--name", "mine", "--preset", "smoke"]),
    ]
    for make_vars, script_args in cases:
        planned = subprocess.run(
            ["make", "-n", "-o", "venv", "-o", "data", "study", *make_vars],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        study_line = next(line for line in planned.splitlines() if "studies/eps_sweep.py" in line)
        # make passes only what it was given: every default is the script's own
        given = study_line.split("eps_sweep.py", 1)[1].split()
        assert ("--seeds" in given) == ("--seeds" in script_args), study_line
        assert ("--kinds" in given) == ("--kinds" in script_args), study_line
        flags = [w for w in given if w not in ("--storage", "--results", "results/ray", "results")]
        assert print_name(*flags) == print_name(*script_args)
    assert print_name() == "eps_sweep-quick"
    assert print_name("--seeds", "0") == "eps_sweep-quick"  # the default seeds, named as such
    assert print_name("--seeds", "0", "1", "2") == "eps_sweep-quick-seeds0_1_2"
    assert print_name("--kinds", "canonical", "rotated") == "eps_sweep-quick-canonical_rotated"
    every = ["--kinds", "canonical", "rotated", "orthogonal", "freeze"]
    assert print_name("--preset", "smoke", *every) == "eps_sweep-smoke"


def test_study_help_shows_the_chosen_presets_defaults():
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    script = str(repo / "studies" / "eps_sweep.py")
    helps = {
        p: subprocess.run(
            [sys.executable, script, "--preset", p, "--help"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout
        for p in ("smoke", "paper")
    }
    assert "default with --preset smoke: 0)" in " ".join(helps["smoke"].split())
    assert "default with --preset paper: 0 1 2)" in " ".join(helps["paper"].split())
    assert "The preset smoke sets" in helps["smoke"] and "epochs=3" in helps["smoke"]
    assert "epochs=300" in helps["paper"]

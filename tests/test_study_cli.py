"""What a study script decides before Ray runs anything: its spec and --set options checked,
its default name, and the Pareto front it saves. No Ray is started here."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from nc_core.cli.study import add_study_args, base_config, study_name
from nc_core.study.spec import StudySpec
from nc_core.study.summary import pareto_front
from nc_core.train.presets import preset
from studies import vit_blocks
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

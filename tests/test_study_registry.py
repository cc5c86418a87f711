"""Studies declared once, each in its own file: found by listing the studies folder, readable
without Ray, their StudyType stored beside Tune's experiment, and drawn by the analysis from that
stored declaration alone. No Ray is started here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.loading.load import load_study
from analysis.make_figures import main as make_figures
from nc_core.study.checks import SPEC_FILE, check_claim, claim
from nc_core.study.declaration import STUDY_KEY, PaperNumber, StudyType
from nc_core.study.registry import builtin_names, builtin_types, get_study, register_study
from nc_core.study.spec import StudySpec
from nc_core.train.presets import preset
from tests.synthetic_results import make_results

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "v0_1"


def test_the_built_in_studies_are_the_files_of_the_studies_folder():
    files = sorted(p.stem for p in (REPO / "studies").glob("*.py") if not p.stem.startswith("_"))
    assert builtin_names() == tuple(files)
    for name in files:
        entry = get_study(name)
        assert entry.type.name == name
        assert Path(entry.source) == (REPO / "studies" / f"{name}.py").resolve()


def test_no_file_but_its_own_names_a_built_in_study():
    """A study's name is written once, in studies/<name>.py: everything else (the command line,
    the analysis' titles, tables, figure sets and paper numbers) reads it from the declaration."""
    offenders = []
    for folder in ("nc_core", "analysis", "studies"):
        for path in sorted((REPO / folder).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            text = path.read_text(errors="replace")
            for name in builtin_names():
                if name in text and path != REPO / "studies" / f"{name}.py":
                    offenders.append(f"{path.relative_to(REPO)}: {name}")
    assert offenders == []


def test_study_files_and_the_analysis_import_without_ray():
    code = (
        "import sys\n"
        "import analysis.make_figures, studies.depth_width, studies.eps_sweep, studies.vit_blocks\n"
        "from nc_core.study.registry import builtin_types\n"
        "builtin_types()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'optuna')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_study_type_round_trips_through_its_stored_form():
    for study_type in builtin_types():
        stored = json.loads(json.dumps(study_type.to_dict()))
        assert StudyType.from_dict(stored) == study_type
    with pytest.raises(ValueError, match="not a StudyType"):
        StudyType.from_dict({"name": "x"})
    with pytest.raises(ValueError, match="leave 'method' out"):
        StudyType("x", "X", "M", arm_keys=("method", "eps"))
    with pytest.raises(ValueError, match="arm="):
        PaperNumber("row", "best")


def test_an_unknown_study_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match="eps_sweep"):
        get_study("eps_swep")


def _build(args):
    raise AssertionError("never built")


def test_register_study_refuses_a_taken_name_and_seeds_or_blanks_that_cannot_work():
    taken = get_study("eps_sweep").type
    with pytest.raises(ValueError, match="declared already"):
        register_study(taken, doc="", build=_build)
    fresh = StudyType("registry_probe", "probe", "Probe", arm_keys=("eps",))
    with pytest.raises(ValueError, match="seeds"):
        register_study(fresh, doc="", build=_build, seeds={"smoke": ()})
    with pytest.raises(ValueError, match="summary_blank"):
        register_study(fresh, doc="", build=_build, summary_keys=("eps",), summary_blank={"x": 0})


def test_claim_stores_the_study_type_and_a_marker_without_one_still_resumes(tmp_path):
    study_type = get_study("eps_sweep").type
    base = preset("smoke", dataset="synthetic")
    spec = StudySpec(name="s", base=base, trials=({"policy": "none"},), study_type=study_type)
    path = tmp_path / "s"
    claim(spec, str(path))
    stored = json.loads((path / SPEC_FILE).read_text())
    assert StudyType.from_dict(stored[STUDY_KEY]) == study_type
    check_claim(spec, str(path))  # the same study: resumes
    (path / SPEC_FILE).write_text(json.dumps(spec.describe()))  # as nc-core 0.1 wrote it
    check_claim(spec, str(path))
    other = StudySpec(name="s", base=base, trials=({"policy": "none", "seed": 1},))
    with pytest.raises(ValueError, match="different study"):
        check_claim(other, str(path))


def test_a_study_stored_by_nc_core_0_1_is_inferred_and_drawn(tmp_path):
    for part in ("results", "ray"):
        shutil.copytree(FIXTURES / part, tmp_path / part)
    study = load_study(tmp_path / "results", "legacy_study", storage=tmp_path / "ray")
    assert study.kind == "eps_sweep" and study.kind_source.startswith("from its study file")
    out = tmp_path / "figures"
    args = ["--results", str(tmp_path / "results"), "--storage", str(tmp_path / "ray")]
    assert make_figures([*args, "--out", str(out)]) == 0  # both trials failed: figures skipped
    assert "Adaptive-ETF over eps (MLP)" in (out / "REPORT.md").read_text()


def store_type(results: Path, name: str, study_type: StudyType) -> Path:
    """A study file of `name` in <results>/ray holding `study_type`, as `claim` writes it."""
    marker = results / "ray" / name / SPEC_FILE
    marker.parent.mkdir(parents=True)
    marker.write_text(json.dumps({"name": name, STUDY_KEY: study_type.to_dict()}))
    return marker


def test_a_declared_type_is_drawn_from_its_stored_file_with_the_default_figures(tmp_path):
    results = make_results(tmp_path / "results", studies=("eps_sweep",))
    (results / "eps_sweep").rename(results / "mine")
    mine = StudyType("my_kind", "Adaptive-ETF, my way", "MyETF", arm_keys=("eps", "kind"))
    store_type(results, "mine", mine)
    out = tmp_path / "figures"
    assert make_figures(["--results", str(results), "--out", str(out)]) == 0
    table = pd.read_csv(out / "mine_table.csv")
    assert set(table["method"]) <= {"baseline", "MyETF", "MyETF control"}
    assert {"baseline", "MyETF"} <= set(table["method"]) and {"eps", "kind"} <= set(table)
    for stem in ("training", "collapse_epochs", "depth_profile", "tradeoff"):
        assert (out / f"mine_{stem}.png").is_file(), stem
    report = (out / "REPORT.md").read_text()
    assert "## mine: Adaptive-ETF, my way" in report and "(`my_kind`, from its study file" in report
    assert "The paper's numbers" not in report  # it declares none
    assert "By the rule, MyETF" in report or "No MyETF arm" in report


@pytest.mark.parametrize(
    "study_type, said",
    [
        (StudyType("my_kind", "t", "M", arm_keys=("eps",), figures="nope"), "'nope'"),
        (StudyType("my_kind", "t", "M", arm_keys=("epsilon",)), "'epsilon'"),
    ],
)
def test_a_declaration_that_cannot_be_drawn_is_one_line_and_exit_2(
    tmp_path, capsys, study_type, said
):
    results = make_results(tmp_path / "results", studies=("eps_sweep",))
    store_type(results, "eps_sweep", study_type)
    out = tmp_path / "figures"
    assert make_figures(["--results", str(results), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and said in err[0] and "eps_sweep" in err[0]
    assert not out.exists()

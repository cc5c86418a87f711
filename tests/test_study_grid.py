"""The eps sweep's grid: both readings of the rule as a study dimension, and repeated grid values,
seeds or trials refused before any work (one line, exit 2). No Ray is started here."""

from __future__ import annotations

import pytest

from nc_core.study.spec import StudySpec
from nc_core.train.presets import preset
from studies import depth_width, eps_sweep

CENTRAL = [
    "--preset",
    "quick",
    "--seeds",
    "0",
    "1",
    "2",
    "--eps",
    "0.1",
    "0.2",
    "--kinds",
    "canonical",
    "rotated",
    "orthogonal",
    "freeze",
    "--modes",
    "layer",
    "beyond:0.1",
]


def spec_of(module, argv: list[str]) -> StudySpec:
    """The StudySpec a study script builds from `argv` (its parser and defaults)."""
    from nc_core.cli.study import add_study_args, study_parser

    parser = study_parser(module.STUDY.doc)
    add_study_args(parser, name=module.STUDY.name)
    module.STUDY.options(parser)
    args = parser.parse_args(argv)
    args.seeds = tuple(args.seeds or module.STUDY.seeds[args.preset])
    return module.STUDY.build(args)


def test_the_central_comparison_is_39_trials_with_the_other_mode_at_one_eps():
    spec = spec_of(eps_sweep, CENTRAL)
    runs = [spec.base.replace(**t) for t in spec.trials]
    assert len(runs) == 39
    arms = {(r.policy, r.mode, r.kind, r.eps) for r in runs if r.policy == "adaptive"}
    assert {(m, e) for _, m, _, e in arms} == {("layer", 0.1), ("layer", 0.2), ("beyond", 0.1)}
    assert len(arms) == 12 and sum(r.policy == "none" for r in runs) == 3
    assert all(t.get("mode") in (None, "beyond") for t in spec.trials)  # layer: the base's
    assert eps_sweep.STUDY.type.arm_keys == ("mode", "eps", "kind")


def test_the_default_mode_is_layer_and_trials_of_one_mode_do_not_name_it():
    spec = spec_of(eps_sweep, ["--preset", "smoke"])
    assert spec.base.mode == "layer" and all("mode" not in t for t in spec.trials)
    beyond = spec_of(eps_sweep, ["--preset", "smoke", "--modes", "beyond"])
    assert {t.get("mode") for t in beyond.trials if t["policy"] == "adaptive"} == {"beyond"}


@pytest.mark.parametrize(
    "module, argv, named",
    [
        (eps_sweep, ["--eps", "0.1", "0.1"], "--eps 0.1 0.1"),
        (eps_sweep, ["--seeds", "0", "0"], "--seeds 0 0"),
        (eps_sweep, ["--kinds", "rotated", "rotated"], "--kinds rotated rotated"),
        (eps_sweep, ["--modes", "layer", "layer"], "--modes layer layer"),
        (eps_sweep, ["--modes", "beyond:0.1,0.1"], "--modes beyond:0.1,0.1"),
        (eps_sweep, ["--modes", "sideways"], "unknown mode"),
        (depth_width, ["--widths", "32", "32"], "--widths 32 32"),
        (depth_width, ["--depths", "3", "3"], "--depths 3 3"),
    ],
)
def test_a_repeated_value_is_refused_with_one_line_and_exit_2(
    module, argv, named, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        module.main(["--preset", "smoke", *argv])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and named in err[0], err
    assert list(tmp_path.iterdir()) == [], "nothing is created before the input is checked"


def test_a_study_spec_refuses_two_identical_trials():
    base = preset("smoke")
    with pytest.raises(ValueError, match="trials 0 and 1 are the same run"):
        StudySpec(name="x", base=base, trials=({"seed": 0}, {"seed": 0}))
    with pytest.raises(ValueError, match="trials 0 and 2 are the same run"):  # after defaults
        StudySpec(name="x", base=base, trials=({"eps": 0.1}, {"seed": 1}, {"eps": 0.1, "seed": 0}))
    StudySpec(name="x", base=base, trials=({"seed": 0}, {"seed": 1}))

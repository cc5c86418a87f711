"""nc_core/trial.py: each trial's label and the override columns of Tune's table, and the
trial-name functions that stored studies unpickle. No Ray is started here."""

from __future__ import annotations

import pytest

from nc_core.study.spec import StudySpec
from nc_core.study.trial import override_columns, trial_label
from nc_core.train.presets import preset
from studies import depth_width, eps_sweep, vit_blocks


def test_trial_labels_name_what_each_trial_varies():
    eps_trials = eps_sweep.trial_list((0.1,), ("rotated",), (0,))
    assert [trial_label(t) for t in eps_trials] == ["baseline-s0", "eps0.1-rotated-s0"]
    shapes = depth_width.trial_list((32,), (3,), (0,))
    assert [trial_label(t) for t in shapes] == [
        "w32-d3-baseline-s0",
        "w32-d3-from1-canonical-s0",
        "w32-d3-from2-canonical-s0",
    ]
    vit = vit_blocks.trial_list(("last:1",), ("both",), ("canonical",), (0,))
    assert [trial_label(t) for t in vit] == ["baseline-s0", "last1-both-canonical-s0"]
    assert trial_label({"eps": 0.012345, "lr": 0.0456}) == "eps0.0123-lr0.0456"


def test_override_columns_are_the_fields_trials_set_in_the_order_first_set():
    base = preset("smoke")
    grid = StudySpec(
        name="g", base=base, trials=tuple(eps_sweep.trial_list((0.1,), ("rotated",), (0,)))
    )
    assert override_columns(grid) == {
        "trial/policy": "policy",
        "trial/seed": "seed",
        "trial/kind": "kind",
        "trial/eps": "eps",
    }
    search = StudySpec(name="s", base=base, space=eps_sweep.search_space(True), num_samples=1)
    assert override_columns(search) == {"eps": "eps", "lr": "lr"}


def test_studies_stored_before_the_tune_package_still_find_their_trial_name_functions():
    # Tune unpickles these by their old module path when exporting or resuming an old study.
    import pickle

    pytest.importorskip("ray")
    import nc_core.tune.run as run
    from nc_core import tune_adapter

    assert tune_adapter._trial_name is run._trial_name
    old = pickle.dumps(run._trial_dirname, protocol=0).replace(
        b"nc_core.tune.run", b"nc_core.tune_adapter"
    )
    assert pickle.loads(old) is run._trial_dirname


def test_reported_metrics_are_numbers_or_text_and_give_back_the_record():
    """What a trial reports to Tune is what Tune's loggers take (TensorBoard logs numbers and
    text, not lists), and the tables rebuilt from reports alone give back each record."""
    from dataclasses import replace

    from nc_core.study.results import record_from_metrics, reported_metrics
    from nc_core.train import train

    cfg = preset("smoke", dataset="synthetic", policy="adaptive", kind="rotated", eps=0.3)
    records = train(cfg).records
    assert any(r.fixed_at_end for r in records), "the policy must fix layers mid-run here"
    for record in records:
        metrics = reported_metrics(record, "ok")
        assert all(isinstance(v, (int, float, str)) for v in metrics.values()), metrics
        assert record_from_metrics(metrics) == replace(record, layers={})
        # a report of an older version: the lists as lists
        older = {**metrics, "fixed_at_end": list(record.fixed_at_end)}
        assert record_from_metrics(older) == replace(record, layers={})

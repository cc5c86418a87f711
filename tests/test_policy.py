"""Policy decisions on scripted NCC-error sequences: patience, "beyond", caps, never unfixing."""

import pandas as pd
import pytest

from nc_core.fixing.policy import AdaptiveETF, NoFreeze, StaticETF
from nc_core.measure.depth import DEFINITIONS, effective_depths, lowest_depth, suffix_depth

LAYERS = ["fc1", "fc2", "fc3", "classifier"]


def errors(*values):
    return dict(zip(LAYERS, values, strict=True))


def test_adaptive_waits_for_patience_consecutive_evaluations():
    p = AdaptiveETF(0.1, patience=3)
    assert p.decide(errors(0.5, 0.5, 0.05, 0.05), 1) == []
    assert p.decide(errors(0.5, 0.5, 0.05, 0.05), 2) == []
    assert p.decide(errors(0.5, 0.5, 0.05, 0.20), 3) == ["fc3"]  # classifier's streak broke
    assert p.decide(errors(0.5, 0.5, 0.05, 0.05), 4) == []
    assert p.fixed == {"fc3": 3}


def test_threshold_is_inclusive_and_streak_resets():
    p = AdaptiveETF(0.1, patience=2)
    assert p.decide(errors(0.1, 1, 1, 1), 1) == []
    assert p.decide(errors(0.11, 1, 1, 1), 2) == []
    assert p.decide(errors(0.1, 1, 1, 1), 3) == []
    assert p.decide(errors(0.1, 1, 1, 1), 4) == ["fc1"]


def test_never_unfixes_and_never_fixes_twice():
    p = AdaptiveETF(0.1, patience=1)
    assert p.decide(errors(1, 1, 0.0, 1), 1) == ["fc3"]
    for epoch in range(2, 6):
        assert "fc3" not in p.decide(errors(1, 1, 0.9, 1), epoch)
    assert p.fixed == {"fc3": 1}


def test_beyond_mode_fixes_the_suffix_from_the_effective_depth():
    p = AdaptiveETF(0.1, patience=1, mode="beyond")
    assert p.decide(errors(0.5, 0.05, 0.03, 0.02), 1) == ["fc2", "fc3", "classifier"]
    assert p.decide(errors(0.05, 0.5, 0.5, 0.5), 2) == ["fc1"]  # fixed layers still qualify


def test_beyond_mode_never_fixes_a_layer_that_does_not_qualify():
    # Only fc2 is under eps, so there is no qualifying suffix at all.
    assert AdaptiveETF(0.1, patience=1, mode="beyond").decide(errors(0.5, 0.05, 0.3, 0.2), 1) == []
    capped = AdaptiveETF(0.1, patience=1, mode="beyond", max_fixed=2)
    assert capped.decide(errors(0.5, 0.05, 0.3, 0.2), 1) == []
    # A qualifying suffix fc3..classifier below a non-qualifying fc2: fc1 is not part of it.
    p = AdaptiveETF(0.1, patience=1, mode="beyond")
    assert p.decide(errors(0.05, 0.5, 0.05, 0.05), 1) == ["fc3", "classifier"]


def test_beyond_mode_max_fixed_keeps_the_deepest_of_the_suffix():
    p = AdaptiveETF(0.1, patience=1, mode="beyond", max_fixed=2)
    assert p.decide(errors(0.5, 0.05, 0.03, 0.02), 1) == ["fc3", "classifier"]
    assert p.decide(errors(0.5, 0.05, 0.03, 0.02), 2) == []


def test_beyond_mode_needs_patience_on_every_layer_of_the_suffix():
    p = AdaptiveETF(0.1, patience=2, mode="beyond")
    assert p.decide(errors(1, 0.05, 0.05, 0.05), 1) == []
    assert p.decide(errors(1, 1, 0.05, 0.05), 2) == ["fc3", "classifier"]  # fc2's streak broke


def test_observe_then_ready_is_decide():
    a, b = AdaptiveETF(0.1, patience=2), AdaptiveETF(0.1, patience=2)
    for epoch, e in enumerate([errors(1, 0, 0, 1), errors(1, 0, 0, 0)], start=1):
        b.observe(e)
        assert a.decide(e, epoch) == b.ready(epoch)
    assert a.state_dict() == b.state_dict()


def test_min_epoch_and_max_fixed_limit_the_cascade():
    p = AdaptiveETF(0.1, patience=1, min_epoch=3, max_fixed=2)
    assert p.decide(errors(0, 0, 0, 0), 1) == []
    assert p.decide(errors(0, 0, 0, 0), 2) == []
    assert p.decide(errors(0, 0, 0, 0), 3) == ["fc3", "classifier"]  # the deepest first
    assert p.decide(errors(0, 0, 0, 0), 4) == []


def test_layers_restricts_what_may_be_fixed():
    p = AdaptiveETF(0.1, patience=1, layers=["fc1", "fc2", "fc3"])
    assert p.decide(errors(1, 1, 0, 0), 1) == ["fc3"]


def test_state_round_trip_continues_the_same_decisions():
    a = AdaptiveETF(0.1, patience=3)
    a.decide(errors(1, 0, 0, 1), 1)
    a.decide(errors(1, 0, 0, 1), 2)
    b = AdaptiveETF(0.1, patience=3)
    b.load_state_dict(a.state_dict())
    assert a.decide(errors(1, 0, 1, 1), 3) == b.decide(errors(1, 0, 1, 1), 3) == ["fc2"]


def test_static_fixes_every_layer_from_index_before_training():
    assert StaticETF(2, kind="rotated").initial(LAYERS) == ["fc3", "classifier"]
    assert StaticETF(2).decide(errors(0, 0, 0, 0), 5) == []
    with pytest.raises(ValueError, match="fix_from=4"):
        StaticETF(4).initial(LAYERS)


def test_nofreeze_never_fixes():
    p = NoFreeze()
    assert p.initial(LAYERS) == [] and p.decide(errors(0, 0, 0, 0), 9) == []


def test_suffix_depth_is_the_start_of_the_suffix_under_eps():
    assert suffix_depth(errors(0.5, 0.09, 0.2, 0.01), 0.1) == "classifier"
    assert suffix_depth(errors(0.5, 0.09, 0.1, 0.01), 0.1) == "fc2"  # eps is inclusive
    assert suffix_depth(errors(0.05, 0.09, 0.1, 0.01), 0.1) == "fc1"
    assert suffix_depth(errors(0.05, 0.05, 0.05, 0.5), 0.1) is None  # the output fails
    assert suffix_depth(errors(0.5, 0.5, 0.5, 0.5), 0.1) is None
    assert suffix_depth({0: 0.0, 1: 0.0}, 0.1) == 0  # index 0 is a layer, not "none"


def test_lowest_depth_is_the_first_layer_under_eps():
    assert lowest_depth(errors(0.5, 0.09, 0.2, 0.01), 0.1) == "fc2"
    assert lowest_depth(errors(0.05, 0.05, 0.05, 0.5), 0.1) == "fc1"  # the output may fail
    assert lowest_depth(errors(0.5, 0.5, 0.5, 0.5), 0.1) is None
    assert lowest_depth({0: 0.0, 1: 0.5}, 0.1) == 0


def test_the_two_definitions_differ_when_errors_are_not_monotone():
    e = errors(0.05, 0.2, 0.05, 0.05)
    assert lowest_depth(e, 0.1) == "fc1" and suffix_depth(e, 0.1) == "fc3"
    assert set(DEFINITIONS) == {"lowest", "suffix"}


def test_both_definitions_match_a_brute_force_search():
    import itertools

    for values in itertools.product([0.05, 0.5], repeat=4):
        e = errors(*values)
        suffix = next((L for i, L in enumerate(LAYERS) if all(v <= 0.1 for v in values[i:])), None)
        lowest = next((L for L, v in zip(LAYERS, values, strict=True) if v <= 0.1), None)
        assert suffix_depth(e, 0.1) == suffix and lowest_depth(e, 0.1) == lowest


def test_effective_depths_of_a_layers_table_use_the_same_definitions():
    from nc_core.measure.depth import NONE, format_depth

    rows = [
        dict(trial_id=t, epoch=1, layer_index=i, train_ncc_acc=1 - err)
        for t, errs in (("a", (0.5, 0.05, 0.3, 0.01)), ("b", (0.01, 0.02, 0.03, 0.5)))
        for i, err in enumerate(errs)
    ]
    got = effective_depths(pd.DataFrame(rows), 0.1, definition="suffix")
    assert got[("a", 1)] == 3 and got[("b", 1)] is pd.NA
    low = effective_depths(pd.DataFrame(rows), 0.1, definition="lowest")
    assert low[("a", 1)] == 1 and low[("b", 1)] == 0
    assert format_depth(got[("b", 1)]) == NONE == "none" and format_depth(None) == NONE
    with pytest.raises(ValueError, match="definition='first'"):
        effective_depths(pd.DataFrame(rows), 0.1, definition="first")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(eps=1.5), "eps=1.5"),
        (dict(eps=0.1, patience=0), "patience=0"),
        (dict(eps=0.1, mode="all"), "mode='all'"),
        (dict(eps=0.1, kind="ortho"), "kind='ortho'"),
    ],
)
def test_bad_policy_arguments_name_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AdaptiveETF(**kwargs)

"""Policy decisions on scripted NCC-error sequences: patience, "beyond", caps, never unfixing."""

import pytest

from nc_core.policy import AdaptiveETF, NoFreeze, StaticETF, effective_depth

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


def test_beyond_mode_fixes_the_qualifying_layer_and_every_deeper_one():
    p = AdaptiveETF(0.1, patience=1, mode="beyond")
    assert p.decide(errors(0.5, 0.05, 0.5, 0.5), 1) == ["fc2", "fc3", "classifier"]
    assert p.decide(errors(0.05, 0.5, 0.5, 0.5), 2) == ["fc1"]


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


def test_effective_depth_is_the_first_layer_under_eps():
    assert effective_depth(errors(0.5, 0.09, 0.2, 0.01), 0.1) == "fc2"
    assert effective_depth(errors(0.5, 0.5, 0.5, 0.5), 0.1) is None


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

"""An NCC error exactly at eps is within eps, everywhere it is compared: the policy, the
effective depth of a table with counts, and of an older table without them (n known from its
config, or not). Every grid value of the eps sweep, NC samples of 500 and 1000 per class, K=10."""

from fractions import Fraction

import pandas as pd
import pytest

from nc_core.fixing.policy import AdaptiveETF
from nc_core.measure.depth import effective_depths
from nc_core.measure.threshold import (
    MAX_N,
    as_fraction,
    error_from_accuracy,
    nc_sample_size,
    ncc_errors,
    within,
    within_counts,
)
from studies.eps_sweep import EPS_GRID

K = 10
TIES = [(eps, per_class) for eps in EPS_GRID for per_class in (500, 1000)]


def at_eps(eps: float, per_class: int) -> tuple[int, int]:
    """(wrong, n): an NC sample of `per_class` x K points with an error of exactly eps."""
    n = per_class * K
    wrong = Fraction(str(eps)) * n
    assert wrong.denominator == 1
    return int(wrong), n


def test_eps_is_read_as_the_decimal_written():
    assert as_fraction(0.3) == Fraction(3, 10) != Fraction(0.3)
    assert as_fraction(Fraction(1, 3)) == Fraction(1, 3) and as_fraction(2) == 2
    with pytest.raises(ValueError, match="finite"):
        as_fraction(float("nan"))


@pytest.mark.parametrize("eps, per_class", TIES)
def test_an_error_exactly_at_eps_is_within_it_and_one_more_is_not(eps, per_class):
    wrong, n = at_eps(eps, per_class)
    assert within_counts(wrong, n, eps) and not within_counts(wrong + 1, n, eps)
    assert within(Fraction(wrong, n), eps) and not within(Fraction(wrong + 1, n), eps)


@pytest.mark.parametrize("eps, per_class", TIES)
def test_the_policy_fixes_a_layer_whose_error_is_exactly_eps(eps, per_class):
    wrong, n = at_eps(eps, per_class)
    for mode in ("layer", "beyond"):
        p = AdaptiveETF(eps, patience=1, mode=mode)
        tie = {"fc1": Fraction(wrong + 1, n), "fc2": Fraction(wrong, n)}
        assert p.decide(tie, 1) == ["fc2"]


def layers_table(eps: float, per_class: int, *, counts: bool, config: bool) -> pd.DataFrame:
    """One trial, one epoch, three layers: errors above, at and below eps, as a layers table."""
    wrong, n = at_eps(eps, per_class)
    rows = []
    for i, w in enumerate((wrong + 1, wrong, wrong - 1)):
        row = dict(trial_id="t", epoch=1, layer_index=i, train_ncc_acc=(n - w) / n)
        if counts:
            row.update(train_ncc_wrong=w, nc_n=n)
        if config:
            row.update(dataset="fashion_mnist", subset=None, nc_samples=per_class, num_classes=None)
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("eps, per_class", TIES)
@pytest.mark.parametrize("counts, config", [(True, False), (False, True), (False, False)])
def test_the_effective_depth_of_a_table_counts_a_tie_as_within(eps, per_class, counts, config):
    table = layers_table(eps, per_class, counts=counts, config=config)
    for definition in ("lowest", "suffix"):
        assert effective_depths(table, eps, definition=definition)[("t", 1)] == 1


def test_a_table_with_counts_has_exact_errors_and_old_tables_recover_them():
    wrong, n = at_eps(0.3, 500)
    new = layers_table(0.3, 500, counts=True, config=False)
    assert list(ncc_errors(new)) == [Fraction(w, n) for w in (wrong + 1, wrong, wrong - 1)]
    old = layers_table(0.3, 500, counts=False, config=True)
    assert nc_sample_size(old.iloc[0]) == n
    assert list(ncc_errors(old)) == list(ncc_errors(new))


def test_nc_sample_size_follows_the_loop_and_is_none_when_the_config_does_not_fix_it():
    row = dict(dataset="fashion_mnist", num_classes=None)
    assert nc_sample_size({**row, "subset": None, "nc_samples": 500}) == 5000
    assert nc_sample_size({**row, "subset": 100, "nc_samples": 500}) == 1000  # the whole subset
    assert nc_sample_size({**row, "subset": None, "nc_samples": None}) is None
    assert nc_sample_size({"dataset": "not-registered", "nc_samples": 5}) is None


@pytest.mark.parametrize("n", [7, 5000, 59999, 60000, MAX_N])
def test_an_accuracy_gives_back_its_exact_fraction_without_n(n):
    for wrong in (0, 1, n // 3, n - 1):
        assert error_from_accuracy((n - wrong) / n, None) == Fraction(wrong, n)
        assert error_from_accuracy((n - wrong) / n, n) == Fraction(wrong, n)

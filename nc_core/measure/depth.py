"""The effective depth, under each definition by its own name; used by the policy, the studies
and the analysis. A layer qualifies at eps when its train NCC error is <= eps, decided on counts
(`nc_core.measure.threshold`). Layers are given input to output.

- `lowest_depth`, the ε-effective depth of Galanti, Galanti & Ben-Shaul, "On the implicit bias
  towards minimal depth of deep neural networks" (arXiv 2202.09028, 2022): the lowest layer whose
  NCC error is <= eps. Their abstract: "a notion of effective depth that measures the first
  layer for which sample embeddings are separable using the nearest-class center classifier".
  None when no layer qualifies.
- `suffix_depth`, this project's definition: the first layer L0 such that every layer from L0 to
  the output qualifies. It reads Liu's "all layers beyond the effective depth" (arXiv
  2412.00884, abstract) as the layers that are all collapsed, and is what the policy's
  mode="beyond" fixes. None when the output layer does not qualify.

Where NCC error falls with depth they agree; where it does not they differ: errors
{fc1: .05, fc2: .2, fc3: .05, classifier: .05} at eps .1 give fc1 (lowest) and fc3 (suffix).
Papyan 2020, Rangamani et al. 2023 and He & Su 2023 measure collapse or separation per layer but
define no effective depth, so neither definition is theirs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping

import numpy as np
import pandas as pd

from nc_core.measure.threshold import ncc_counts, within, within_eps

NONE = "none"  # how a missing effective depth is written, everywhere


def first_of_suffix(qualifies: Mapping[Hashable, bool]) -> Hashable | None:
    """The first key from which on every value is True (input-to-output order); None when the
    last is False."""
    first = None
    for name, ok in qualifies.items():
        if not ok:
            first = None
        elif first is None:
            first = name
    return first


def first_true(qualifies: Mapping[Hashable, bool]) -> Hashable | None:
    """The first key whose value is True; None when none is."""
    return next((name for name, ok in qualifies.items() if ok), None)


def lowest_depth(ncc_error: Mapping[Hashable, object], eps: object) -> Hashable | None:
    """Galanti, Galanti & Ben-Shaul's ε-effective depth: the lowest layer with NCC error <= eps."""
    return first_true({n: within(e, eps) for n, e in ncc_error.items()})


def suffix_depth(ncc_error: Mapping[Hashable, object], eps: object) -> Hashable | None:
    """This project's suffix definition: the first layer from which on every layer to the output
    has NCC error <= eps; None when the output's is above it."""
    return first_of_suffix({n: within(e, eps) for n, e in ncc_error.items()})


DepthRule = Callable[[Mapping[Hashable, object], object], Hashable | None]
DEFINITIONS: dict[str, DepthRule] = {"lowest": lowest_depth, "suffix": suffix_depth}
DESCRIPTIONS = {
    "lowest": "ε-effective depth (Galanti, Galanti & Ben-Shaul 2022): the lowest layer with "
    "train NCC error <= eps",
    "suffix": "collapsed suffix (this project's definition, the policy's mode=beyond): the first "
    "layer from which every layer to the output has train NCC error <= eps",
}


def _rule(definition: str) -> DepthRule:
    if definition not in DEFINITIONS:
        raise ValueError(
            f"effective depth definition={definition!r}: expected one of {tuple(DEFINITIONS)}"
        )
    return DEFINITIONS[definition]


def effective_depths(
    layers: pd.DataFrame, eps: object | pd.Series, *, definition: str
) -> pd.Series:
    """Per (trial_id, epoch) of a layers table: the `layer_index` of the effective depth by
    `definition` ("lowest" or "suffix", `DEFINITIONS`), as a nullable integer (<NA> where it is
    none). Each row qualifies on its exact counts (`threshold.ncc_counts`, `within_eps`); `eps`
    may be a column aligned with `layers`."""
    _rule(definition)
    if layers.empty:
        return pd.Series(dtype="Int64")
    wrong, n = ncc_counts(layers)
    ok = np.zeros(len(layers), dtype=bool)
    if isinstance(eps, pd.Series):
        values = eps.to_numpy()
        for e in pd.unique(values):
            at = values == e
            ok[at] = within_eps(wrong[at], n[at], e)
    else:
        ok = within_eps(wrong, n, eps)
    frame = pd.DataFrame(
        {
            "trial_id": layers["trial_id"].to_numpy(),
            "epoch": layers["epoch"].to_numpy(),
            "layer_index": layers["layer_index"].astype(int).to_numpy(),
            "ok": ok,
        }
    )
    keys = ["trial_id", "epoch"]
    groups = frame.groupby(keys, sort=True)
    if definition == "lowest":
        first = frame[frame["ok"]].groupby(keys)["layer_index"].min()
    else:  # the first index above the last one that does not qualify (none if that is the top)
        bad = frame.assign(b=frame["layer_index"].where(~frame["ok"], -1))
        last_bad = bad.groupby(keys)["b"].transform("max")
        first = frame[frame["layer_index"] > last_bad].groupby(keys)["layer_index"].min()
    out = first.reindex(groups.size().index).astype("Int64")
    out.index = out.index.set_names(keys)
    return out


def format_depth(value: object) -> str:
    """`value`, a layer index or name, for printing; NONE for a missing one (None, <NA>, NaN)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return NONE
    return str(value)

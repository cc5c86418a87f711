"""The effective depth: one definition, used by the policy, the studies and the analysis.

Galanti, Galanti & Ben-Shaul 2022 ("On the implicit bias towards minimal depth of deep neural
networks") call the effective depth the first layer from which on the features are
nearest-class-centre separable. Here that is the suffix definition: the first measured layer
L0 such that every layer from L0 to the output has train NCC error <= eps. When the output
layer itself does not qualify there is no such layer, and the effective depth is `None`
(written "none" in every table and printout).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

NONE = "none"  # how a missing effective depth is written, everywhere


def effective_depth(ncc_error: Mapping[str, float], eps: float) -> str | None:
    """The first layer (in the mapping's input-to-output order) from which on every layer has
    NCC error <= eps; None when the last (output) layer does not qualify."""
    first = None
    for name, err in ncc_error.items():
        if err > eps:
            first = None
        elif first is None:
            first = name
    return first


def effective_depths(layers: pd.DataFrame, eps: float | pd.Series) -> pd.Series:
    """Per (trial_id, epoch) of a layers table: the `layer_index` of `effective_depth`, as a
    nullable integer (<NA> where it is none). `eps` may be a column aligned with `layers`."""
    if layers.empty:
        return pd.Series(dtype="Int64")
    eps = eps if isinstance(eps, pd.Series) else pd.Series(eps, index=layers.index)
    frame = layers.assign(_err=1.0 - layers["train_ncc_acc"], _eps=eps)
    out = {}
    for key, g in frame.sort_values("layer_index").groupby(["trial_id", "epoch"], sort=True):
        errors = dict(zip(g["layer_index"], g["_err"], strict=True))
        first = effective_depth(errors, float(g["_eps"].iloc[0]))
        out[key] = pd.NA if first is None else int(first)
    index = pd.MultiIndex.from_tuples(list(out), names=["trial_id", "epoch"])
    return pd.Series(list(out.values()), index=index, dtype="Int64")


def format_depth(value: object) -> str:
    """`value`, a layer index or name, for printing; NONE for a missing one (None, <NA>, NaN)."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return NONE
    return str(value)

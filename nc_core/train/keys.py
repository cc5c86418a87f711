"""The flat form of a `RunConfig`: its keys, and the names nc-core 0.1 used.

A flat key is a run field (`lr`) or a model option written `<model>_<option>` (`mlp_width`); an
option's short name (`width`) is resolved against the run's model. Configs, tables and stored
studies of nc-core 0.1 used one flat dataclass, whose names `LEGACY_KEYS` maps to today's.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from nc_core.models import MODELS, get_model

# Config keys of nc-core 0.1, whose RunConfig was one flat dataclass: read as today's names.
LEGACY_KEYS = {
    "width": "mlp_width",
    "depth": "mlp_depth",
    "batch_norm": "mlp_batch_norm",
    "etf_blocks": "vit_etf_blocks",
    "etf_linears": "vit_etf_linears",
}


def upgrade_keys(flat: Mapping[str, Any]) -> dict[str, Any]:
    """`flat` with nc-core 0.1's key names (`LEGACY_KEYS`) read as today's."""
    out = {}
    for key, value in flat.items():
        new = LEGACY_KEYS.get(key, key)
        if new not in flat or new == key:
            out[new] = value
    return out


def canonical_keys(model: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` with each option short name (`width`) written as its flat key (`mlp_width`)
    for `model`; run fields and flat keys as they are."""
    names = get_model(model).option_names()  # never a run field's name (RunConfig checks)
    return {(f"{model}_{k}" if k in names else k): v for k, v in values.items()}


def unknown_key(key: str, model: str, run_fields: Iterable[str]) -> str:
    """The message for a config key that is neither one of `run_fields` nor an option of
    `model`, naming the model that has it or the closest names."""
    entry = get_model(model)
    for other in MODELS:
        if other != model and key.startswith(f"{other}_"):
            if key[len(other) + 1 :] in get_model(other).option_names():
                return (
                    f"RunConfig.{key}: an option of model {other!r}, and this run's model is "
                    f"{model!r} (its options: {', '.join(entry.option_names())})"
                )
    owners = [m for m in MODELS if key in get_model(m).option_names()]
    if owners:
        return (
            f"RunConfig.{key}: an option of model {' and '.join(map(repr, owners))}, and this "
            f"run's model is {model!r} (its options: {', '.join(entry.option_names())})"
        )
    known = [k for k in run_fields if k != "arch"] + list(entry.option_names())
    close = difflib.get_close_matches(key, known, n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return f"RunConfig.{key}: not a run field nor an option of model {model!r}{hint}"

"""One trial as Tune holds it: its config, the `RunConfig` that config stands for, and its name.

Tune's config of a trial holds only what varies (the base RunConfig is the trainable's closure,
so Tune's parameter columns show no base field beside an override of it): a grid study's
param_space is {TRIAL_KEY: tune.grid_search([overrides, ...])}, a search's the sampled fields.
`trial_label` names a trial from those overrides (`eps0.1-rotated-s0`), and `override_columns`
are the columns of Tune's progress table that show them. No Ray here.
"""

from __future__ import annotations

from nc_core.models import MODELS, get_model
from nc_core.study.spec import StudySpec
from nc_core.train.config import RUN_FIELDS, RunConfig
from nc_core.train.keys import canonical_keys, upgrade_keys

TRIAL_KEY = "trial"
EVERY_KEY = "_checkpoint_every"  # param keys outside RunConfig start with "_" (studies stored
FAIL_KEY = "_fail_at_epoch"  # before the base moved to the closure hold them, and the base)


def run_config_of(config: dict, base: dict | None = None) -> RunConfig:
    """The RunConfig of a trial: `base` (a flat `RunConfig.to_dict()`), then the Tune config's
    flat fields, then its grid overrides under TRIAL_KEY. Names of nc-core 0.1 (`width`) are
    read as today's, so studies stored then still resume and export."""
    base = upgrade_keys(base or {})
    flat = upgrade_keys({k: v for k, v in config.items() if k != TRIAL_KEY})
    grid = upgrade_keys(config.get(TRIAL_KEY, {}))
    model = grid.get("model", flat.get("model", base.get("model", "mlp")))
    params = {**base, **canonical_keys(model, flat), **canonical_keys(model, grid)}
    return RunConfig.from_dict(params).validate()


def is_config_key(key: str) -> bool:
    """Whether `key` is a run field or a flat model option (`mlp_width`)."""
    if key in RUN_FIELDS:
        return key != "arch"
    return any(
        key.startswith(f"{m}_") and key[len(m) + 1 :] in get_model(m).option_names() for m in MODELS
    )


def short_key(key: str) -> str:
    """A flat model option's short name (`mlp_width` -> `width`); other keys as they are."""
    for m in MODELS:
        if key.startswith(f"{m}_") and key[len(m) + 1 :] in get_model(m).option_names():
            return key[len(m) + 1 :]
    return key


def trial_name(config: dict) -> str:
    """`eps0.1-rotated-s0`: a trial's name in Tune's output, from what its `config` varies."""
    varying = config.get(TRIAL_KEY)
    if varying is None:  # a search: the sampled fields
        varying = {k: v for k, v in config.items() if is_config_key(k)}
    return trial_label(varying)


def override_columns(spec: StudySpec) -> dict[str, str]:
    """Tune config key -> column header for each field a trial of `spec` sets, in the order the
    trials first set them: {"trial/policy": "policy", "trial/eps": "eps", ...} for a grid (Tune
    reads nested keys by "/"), {"eps": "eps", "lr": "lr"} for a search."""
    if not spec.trials:
        return {key: key for key in spec.space}
    keys = dict.fromkeys(key for overrides in spec.trials for key in overrides)
    return {f"{TRIAL_KEY}/{key}": key for key in keys}


def trial_label(overrides: dict) -> str:
    """A trial's readable name from the fields it sets: `eps0.1-rotated-s0`, `baseline-s0`,
    `w32-d3-from1-canonical-s0` (a width x depth grid), `last1-both-canonical-s0` (ViT blocks)."""
    rest = {short_key(k): v for k, v in upgrade_keys(overrides).items()}
    parts = [f"{key[0]}{rest.pop(key)}" for key in ("width", "depth") if key in rest]
    seed, policy, blocks = (
        rest.pop("seed", None),
        rest.pop("policy", None),
        rest.pop("etf_blocks", None),
    )
    if policy == "none" or blocks == "none":
        parts.append("baseline")
    elif policy not in (None, "adaptive", "static"):  # adaptive: eps says it; static: fix_from
        parts.append(str(policy))
    if "eps" in rest:
        parts.append(f"eps{_short(rest.pop('eps'))}")
    if "fix_from" in rest:
        parts.append(f"from{rest.pop('fix_from')}")
    if blocks not in (None, "none"):
        parts.append(str(blocks).replace(":", ""))
    parts += [str(rest.pop(key)) for key in ("etf_linears", "kind") if key in rest]
    parts += [f"{key}{_short(value)}" for key, value in sorted(rest.items())]
    if seed is not None:
        parts.append(f"s{seed}")
    return "-".join(parts) or "base"


def _short(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)

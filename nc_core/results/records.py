"""What a run records, and the two tidy tables every result is stored as.

`EpochRecord` (one per epoch) holds a `LayerRecord` per measured layer. `to_frames` turns a run's
records into the two tables documented in the README:

- epochs: one row per (trial, epoch): `EPOCH_COLUMNS`, then the run's config (`config_columns`).
- layers: one row per (trial, epoch, layer) for epochs where NC was measured: `LAYER_COLUMNS`,
  then the run's config.

The config columns are `RunConfig.to_dict()`: `model`, the model's options as `<model>_<option>`
(`mlp_width`, `vit_dim`: `model_option_columns`), then every other run field (`CONFIG_COLUMNS`).
A row carries its own model's options only; tables of several models have nulls elsewhere.
Tables written by nc-core 0.1 are read through `upgrade_table`. docs/tables.md documents every
column (a test keeps it equal to these lists).

Records are plain dataclasses of Python scalars, so they round-trip through `asdict` and
`torch.save(..., weights_only=True)` checkpoints.
"""

from __future__ import annotations

import math
import types
import typing
from dataclasses import asdict, dataclass, field

import pandas as pd

from nc_core.models import MODELS, get_model
from nc_core.train.config import RunConfig
from nc_core.train.keys import LEGACY_KEYS


@dataclass
class LayerRecord:
    """Neural-collapse measures of one layer at one epoch (NaN where not defined)."""

    index: int  # position in the model's measured layers, 0 = closest to the input
    train_ncc_acc: float  # NCC accuracy on the NC sample of the train set, train-set class means
    test_ncc_acc: float  # NCC accuracy on the test set with the same train-set means
    nc1: float  # Tr(Sigma_W Sigma_B^+) / K
    nc2_equinorm: float
    nc2_equiangle: float
    etf_distance: float
    nc3: float = math.nan  # classifier only: self-duality of W and the penultimate means
    nc4: float = math.nan  # classifier only: share where argmax(logits) != NCC prediction
    cdnv: float = math.nan  # class-distance normalised variance (Galanti et al. 2022)
    rank_means: float = math.nan  # numerical rank of the centred class means (K, D)
    erank_means: float = math.nan  # effective rank (Roy & Vetterli 2007) of the same
    rank_cov: float = math.nan  # numerical rank of the feature covariance Sigma_T (D, D)
    erank_cov: float = math.nan  # effective rank of Sigma_T
    dead_units: float = math.nan  # share of units never active after the ReLU (NaN: no ReLU)
    # The train NCC error as counts, so that "error <= eps" is decided exactly (wrong <= eps * n);
    # None in records of versions that did not keep them.
    train_ncc_wrong: int | None = None  # NC-sample points the nearest class mean got wrong
    nc_n: int | None = None  # NC-sample points
    probe_train_acc: float = math.nan  # ridge linear probe's accuracy on the NC sample
    probe_test_acc: float = math.nan  # the same probe on the test set
    # The state during this epoch's measurement: a fixed layer's row is still measured, and
    # for a fixed square map NC1 and NCC repeat its input's values (README: "Results").
    fixed_as: str = ""  # "" while trainable, else the kind: canonical/rotated/orthogonal/freeze
    fixed_epoch: int = -1  # epoch at whose end it was fixed (-1: not fixed; 0: from the start)


@dataclass
class EpochRecord:
    """One epoch of training: losses, accuracies, parameter accounting and timing."""

    epoch: int  # 1-based: the number of epochs completed
    train_loss: float
    train_acc: float
    test_loss: float
    test_acc: float
    epoch_lr: float  # the learning rate used in this epoch
    trainable_params: int
    total_params: int
    optimizer_state_bytes: int
    epoch_seconds: float  # the training pass alone
    eval_seconds: float  # the NC evaluation (0 when not measured this epoch)
    pred_classes: int = -1  # classes the network predicts on the test set (-1: not measured)
    pred_entropy: float = math.nan  # entropy (nats) of the test prediction histogram
    data_dir: str = ""  # the folder the dataset's files were read from ("": generated data)
    data_digest: str = ""  # sha256 of those files (names and bytes), its first 12 hex characters
    # Every field above describes the state during this epoch's training and measurement;
    # `fixed_at_end` alone says what the policy fixed after it (in force from the next epoch).
    fixed_layers: list[str] = field(default_factory=list)  # layers fixed during this epoch
    fixed_at_end: list[str] = field(default_factory=list)  # layers fixed at this epoch's end
    layers: dict[str, LayerRecord] = field(default_factory=dict)  # empty when NC not measured

    @staticmethod
    def from_dict(d: dict) -> EpochRecord:
        """The record that `d`, its `dataclasses.asdict()`, describes (layers as dicts)."""
        layers = {k: LayerRecord(**v) for k, v in d.get("layers", {}).items()}
        return EpochRecord(**{**d, "layers": layers})


EPOCH_COLUMNS = [
    "study",
    "trial_id",
    "trial_name",
    "status",
    "epoch",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "epoch_lr",
    "trainable_params",
    "total_params",
    "optimizer_state_bytes",
    "epoch_seconds",
    "eval_seconds",
    "pred_classes",
    "pred_entropy",
    "layers_fixed",
    "fixed_layers",
    "fixed_at_end",
    "data_dir",
    "data_digest",
]
LAYER_COLUMNS = [
    "study",
    "trial_id",
    "trial_name",
    "status",
    "epoch",
    "layer",
    "layer_index",
    "train_ncc_acc",
    "test_ncc_acc",
    "train_ncc_wrong",
    "nc_n",
    "probe_train_acc",
    "probe_test_acc",
    "nc1",
    "nc2_equinorm",
    "nc2_equiangle",
    "etf_distance",
    "nc3",
    "nc4",
    "cdnv",
    "rank_means",
    "erank_means",
    "rank_cov",
    "erank_cov",
    "dead_units",
    "fixed",
    "fixed_as",
    "fixed_epoch",
]
# Columns newer than some stored tables, with the value a table without them reads as.
LATER_EPOCH_COLUMNS = {"trial_name": "", "data_dir": "", "data_digest": ""}
LATER_LAYER_COLUMNS = {
    "trial_name": "",
    "train_ncc_wrong": None,  # counts: null, not kept then
    "nc_n": None,
    "probe_train_acc": math.nan,
    "probe_test_acc": math.nan,
}
COUNT_COLUMNS = ["train_ncc_wrong", "nc_n"]  # integers, null in rows of older records
# Run fields: config columns every row has (the model's options come after `model`).
CONFIG_COLUMNS = [f for f in RunConfig.__dataclass_fields__ if f != "arch"]


def model_option_columns() -> list[str]:
    """`<model>_<option>` for every registered model's options, in registration order."""
    return [f"{m}_{o}" for m in MODELS for o in get_model(m).option_names()]


def config_columns(cfg: RunConfig) -> list[str]:
    """The config columns of a row of `cfg`: `model`, its options, then the other run fields."""
    return list(cfg.to_dict())


ADDED_FIELDS = ("augment",)  # run fields newer than some stored tables, in the order added


def upgrade_table(df: pd.DataFrame) -> pd.DataFrame:
    """A table written by an older version read as today's: nc-core 0.1's flat config
    (`width`, `etf_blocks`, every model's fields in every row) renamed (`LEGACY_KEYS`), each
    model's option columns null in the rows of other models, and the config columns that mean
    nothing in a row null (`blank_unused`). Today's tables pass through unchanged. A run field
    added since (`ADDED_FIELDS`) is read as its default, which is what the code that wrote the
    table did: a new field's default keeps the behaviour from before it."""
    renames = {old: new for old, new in LEGACY_KEYS.items() if old in df and new not in df}
    added = [f for f in ADDED_FIELDS if f not in df] if "model" in df else []
    if added:
        df = df.assign(**{f: RunConfig.__dataclass_fields__[f].default for f in added})
    if renames and "model" in df:
        df = df.rename(columns=renames)
        for m in MODELS:
            cols = [f"{m}_{o}" for o in get_model(m).option_names() if f"{m}_{o}" in df]
            if cols:
                other = df["model"] != m
                df[cols] = df[cols].astype(object).where(~other, None)
    return typed_nulls(name_lists(blank_unused(df)))


# numbers as float NaN and text as pandas' str (NaN-null) rather than the nullable Int64 and
# string dtypes, whose pd.NA makes a plain mask such as `df[df.eps == 0.1]` raise
_DTYPES = {int: "float64", float: "float64", str: "str"}


def _dtype(hint: object) -> str | None:
    """The pandas dtype of a null column of a field's type hint (`int | None` -> float64, a
    Literal of strings -> str); None for a type that has none (bool, a tuple, Any)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is typing.Literal:
        kinds = {type(a) for a in args}
        return _DTYPES.get(kinds.pop()) if len(kinds) == 1 else None
    if args and typing.get_origin(hint) in (typing.Union, types.UnionType):
        return _dtype(args[0]) if len(args) == 1 else None
    return _DTYPES.get(hint)


def config_dtypes() -> dict[str, str]:
    """column -> pandas dtype (`_dtype`) of every config column with a plain type: the run
    fields and each model's options (`<model>_<option>`)."""
    out = {}
    hints = [("", typing.get_type_hints(RunConfig))]
    hints += [(f"{m}_", typing.get_type_hints(get_model(m).options)) for m in MODELS]
    for prefix, fields_ in hints:
        for name, hint in fields_.items():
            dtype = _dtype(hint)
            if dtype is not None and (prefix or name in CONFIG_COLUMNS):
                out[prefix + name] = dtype
    return out


def typed_nulls(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with each config column that is null in every row given its declared type
    (`config_dtypes`), so Parquet stores `kind` of a baseline's table as a string column of
    nulls rather than a column of type null, which duckdb cannot read beside a table of arms."""
    todo = {c: t for c, t in config_dtypes().items() if c in df and df[c].isna().all()}
    return df.astype(todo) if todo and len(df) else df


LIST_COLUMNS = ("fixed_layers", "fixed_at_end")  # layer names, input to output: list<string>


def _as_names(value: object) -> list[str]:
    """Layer names of one cell: a list (or array) of names, or the comma-joined text of the
    tables of earlier versions; [] for an empty or null cell."""
    if isinstance(value, str):
        return [n for n in value.split(",") if n]
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        return [str(v) for v in list(value)]
    return []


def name_lists(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with each of `LIST_COLUMNS` it has as a column of lists of layer names (written
    as Parquet `list<string>`, which pandas reads back as arrays and duckdb as lists). Tables
    that stored them as comma-joined text are read the same way."""
    todo = [c for c in LIST_COLUMNS if c in df]
    if not todo:
        return df
    df = df.copy()
    for c in todo:
        df[c] = pd.Series([_as_names(v) for v in df[c]], index=df.index, dtype=object)
    return df


ETF_BLOCKS = "vit_etf_blocks"  # the column of the ViT blocks whose linears are fixed from the start


def is_baseline(df: pd.DataFrame) -> pd.Series:
    """Rows with no ETF anywhere: policy 'none' and no ViT blocks fixed from the start (rows of
    other models carry no `ETF_BLOCKS`, or a null one)."""
    blocks = df[ETF_BLOCKS] if ETF_BLOCKS in df else pd.Series(None, index=df.index)
    return (df["policy"] == "none") & blocks.where(blocks.notna(), "none").map(str).eq("none")


def blank_unused(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with the config columns that mean nothing in a row made null, so that a plain
    `groupby(["kind", "eps"])` never merges arms that differ: `eps` and `mode` where no
    adaptive rule ran (their defaults would otherwise read as a threshold and a reading of the
    rule), and `kind` in baseline rows, which fix nothing."""
    if df.empty or "policy" not in df:
        return df
    df = df.copy()
    adaptive = df["policy"] == "adaptive"
    if "eps" in df:
        df["eps"] = df["eps"].astype(float).where(adaptive)
    if "mode" in df:
        df["mode"] = df["mode"].astype(object).where(adaptive, None)
    if "kind" in df:
        df["kind"] = df["kind"].astype(object).where(~is_baseline(df), None)
    return df


def to_frames(
    records: list[EpochRecord],
    cfg: RunConfig,
    *,
    study: str = "",
    trial_id: str = "",
    trial_name: str = "",
    status: str = "ok",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(epochs, layers) tables of one run; config fields become columns of both (null where
    they mean nothing: `blank_unused`). `study`, `trial_id` and `trial_name` (its readable
    name, `eps0.1-rotated-s0`) identify a study's trial; a single run leaves them empty."""
    config = cfg.to_dict()
    ident = {"study": study, "trial_id": trial_id, "trial_name": trial_name, "status": status}
    epoch_rows, layer_rows = [], []
    for r in records:
        row = {k: v for k, v in asdict(r).items() if k != "layers"}
        row["layers_fixed"] = len(r.fixed_layers)
        row["fixed_layers"] = list(r.fixed_layers)
        row["fixed_at_end"] = list(r.fixed_at_end)
        epoch_rows.append({**ident, **row, **config})
        for name, lr_ in r.layers.items():
            lrow = asdict(lr_)
            lrow["layer_index"] = lrow.pop("index")
            lrow["fixed"] = bool(lr_.fixed_as)
            layer_rows.append({**ident, "epoch": r.epoch, "layer": name, **lrow, **config})
    epochs = pd.DataFrame(epoch_rows, columns=EPOCH_COLUMNS + list(config))
    epochs = typed_nulls(name_lists(blank_unused(epochs)))
    layers = typed_nulls(
        blank_unused(pd.DataFrame(layer_rows, columns=LAYER_COLUMNS + list(config)))
    )
    layers[COUNT_COLUMNS] = layers[COUNT_COLUMNS].astype("Int64")  # counts; <NA> where not kept
    return epochs, layers

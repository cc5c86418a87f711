"""A study's results: what each trial reports to Tune, read back as records and final statuses,
and written as the study's two tables (README: "Results"). No Ray here: the Tune side hands over
its trials (`nc_core.study.stored.StoredTrial`, from `nc_core.tune.export.export`).

Each epoch a trial reports `reported_metrics` and, every `checkpoint_every` epochs and at its
last, a checkpoint folder (`write_checkpoint`: its `TrainState` and a small meta file). That
checkpoint holds one record per epoch of the lineage that survived restarts, so `trial_records`
reads records from it, not from the reported metrics (which repeat epochs after a restore); only
epochs reported after the last checkpoint come from metrics, without layer measures. A checkpoint
that cannot be read (corrupt, truncated, gone) costs its trial the layer rows of its epochs, not
the study its tables: the next older checkpoint is read, the epochs after it come from the
reported metrics, and the trial is named as a problem (exit status 1).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from nc_core.results.atomic import device_of
from nc_core.results.pair import write_pair
from nc_core.results.records import (
    CONFIG_COLUMNS,
    EPOCH_COLUMNS,
    LAYER_COLUMNS,
    EpochRecord,
    to_frames,
)
from nc_core.study.spec import SCALARS
from nc_core.study.stored import StoredTrial
from nc_core.study.trial import run_config_of, trial_name
from nc_core.train.state import CheckpointError, TrainState, load_state, save_state

STATE_FILE, META_FILE = "state.pt", "meta.json"


@dataclass(frozen=True)
class StudyResult:
    """The exported tables of a study, each trial's status, why failed trials failed, what went
    wrong besides (`problems`: an unreadable checkpoint, a full disk, each one line), and
    whether this run was interrupted (Ctrl-C): what the study script's exit status says."""

    epochs: pd.DataFrame
    layers: pd.DataFrame
    statuses: dict[str, str] = field(default_factory=dict)  # trial id -> status
    failures: dict[str, str] = field(default_factory=dict)  # trial id -> last error line
    interrupted: bool = False
    problems: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        """130 when interrupted (as for SIGINT), 1 when a trial ended in error or something
        else went wrong (`problems`), else 0."""
        return 130 if self.interrupted else 1 if self.failures or self.problems else 0


def no_result() -> StudyResult:
    """Empty tables of an interrupted study: stopped before Tune saved anything."""
    empty = pd.DataFrame(columns=EPOCH_COLUMNS + CONFIG_COLUMNS)
    return StudyResult(empty, pd.DataFrame(columns=LAYER_COLUMNS + CONFIG_COLUMNS), {}, {}, True)


# ---------------------------------------------------------------------------- one trial's reports


def reported_metrics(record: EpochRecord, status: str) -> dict:
    """What a trial reports to Tune at the end of an epoch: the record's scalars, its fixed
    layers and the trial's status so far. Every value is a number or a string (the lists of
    layer names comma-joined), as Tune's loggers (TensorBoard, CSV) take them."""
    metrics = {k: getattr(record, k) for k in SCALARS}
    metrics.update(
        layers_fixed=len(record.fixed_layers),
        fixed_layers=",".join(record.fixed_layers),
        fixed_at_end=",".join(record.fixed_at_end),
        status=status,
    )
    return metrics


def write_checkpoint(folder: Path, state: TrainState, record: EpochRecord, status: str) -> None:
    """Fill a checkpoint `folder`: the training `state` and the epoch (`record`'s) and `status`
    it was taken at."""
    save_state(state, folder / STATE_FILE)
    (folder / META_FILE).write_text(json.dumps({"epoch": record.epoch, "status": status}))


def _read_checkpoint(checkpoint) -> tuple[list[EpochRecord], str] | None:
    """(records, status) of one checkpoint; None for a folder whose write never finished (a
    file missing: storage that filled up, a killed trial); CheckpointError naming it when it
    cannot be read."""
    where = getattr(checkpoint, "path", checkpoint)
    with checkpoint.as_directory() as d:
        if not all((Path(d) / name).is_file() for name in (STATE_FILE, META_FILE)):
            return None
        state = load_state(Path(d) / STATE_FILE)
        try:
            status = json.loads((Path(d) / META_FILE).read_text())["status"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            reason = f"{type(err).__name__}: {err}".splitlines()[0]
            raise CheckpointError(f"{where}/{META_FILE} cannot be read ({reason})") from None
    return list(state.records), status


def trial_records(trial: StoredTrial) -> tuple[list[EpochRecord], str, str | None]:
    """A trial's records, one per epoch (those of its newest readable checkpoint, then any
    epochs reported after it by the newest attempt), its status, and the problem of a
    checkpoint that could not be read (None: none)."""
    records, status, problem = [], None, None
    for checkpoint in trial.checkpoints:
        try:
            read = _read_checkpoint(checkpoint)
        except (CheckpointError, OSError) as err:
            if problem is None:
                problem = " ".join(str(err).replace("; delete it or pass another", "").split())
            continue
        if read is not None:
            records, status = read
            break
    done = records[-1].epoch if records else 0  # the checkpointed epochs
    history = trial.history
    if history is not None and len(history) and "epoch" in history:
        # After a restore, the history repeats epochs; the newest attempt is its longest tail
        # of strictly increasing epochs.
        epochs = history["epoch"].tolist()
        start = len(epochs) - 1
        while start > 0 and epochs[start - 1] < epochs[start]:
            start -= 1
        later = history.iloc[start:]
        later = later[later["epoch"] > done]
        records += [record_from_metrics(row) for row in later.to_dict("records")]
        if (len(later) or status is None) and "status" in history:
            status = history["status"].iloc[-1]
    if problem is not None:
        kept = (
            f"an older checkpoint's epoch{'s 1-' if done > 1 else ' '}{done}"
            if done
            else "no checkpointed epoch"
        )
        problem = (
            f"trial {trial.trial_id}: {problem}; its rows are {kept}, then its reported "
            "metrics (without layer rows)"
        )
    return records, final_status(trial.status, status, records), problem


def record_from_metrics(row: dict) -> EpochRecord:
    """An EpochRecord rebuilt from reported metrics (scalars only: no layer measures; a scalar
    an older version did not report is left at its default)."""
    defaults = {f.name: f.default for f in dataclasses.fields(EpochRecord)}
    return EpochRecord(
        **{k: _scalar(row.get(k, defaults.get(k))) for k in SCALARS},
        fixed_layers=_names(row.get("fixed_layers")),
        fixed_at_end=_names(row.get("fixed_at_end")),
    )


def _names(value: Any) -> list[str]:
    """Layer names as reported: comma-joined text, or (reports of older versions) a list."""
    if isinstance(value, str):
        return value.split(",") if value else []
    if isinstance(value, (list, tuple)) or hasattr(value, "tolist"):
        return [str(v) for v in list(value)]
    return []


def _scalar(value: Any) -> Any:
    """A pandas or numpy scalar (a report read back from a table) as a plain Python one."""
    return value.item() if hasattr(value, "item") else value


def final_status(trial_status: str, reported: str | None, records: list[EpochRecord]) -> str:
    """ok / diverged (from train), error (failed max_failures + 1 times), stopped (by the
    scheduler), incomplete (not finished yet: interrupted, or still running)."""
    if reported == "diverged" or any(not math.isfinite(r.train_loss) for r in records):
        return "diverged"
    if reported == "ok":
        return "ok"
    return {"ERROR": "error", "TERMINATED": "stopped"}.get(trial_status, "incomplete")


# ---------------------------------------------------------------------------- the study's tables


def write_tables(
    name: str,
    base: dict,
    results: str | Path,
    trials: list[StoredTrial],
    *,
    owner: dict[str, str],
    problems: tuple[str, ...] = (),
) -> StudyResult:
    """Rebuild <results>/<name>/{epochs,layers}.parquet from the stored `trials` of study
        `name` (base config `base`, a flat `RunConfig.to_dict()`) and replace both together
        (`nc_core.results.pair.write_pair`), stamped with `owner` (Parquet metadata: which stored
    study they are of, `nc_core.study.checks.owner_stamp`); print
        the trials that failed and why, and each problem (`problems`, and every checkpoint that
        could not be read)."""
    frames, statuses, failures, found = [], {}, {}, list(problems)
    for trial in trials:
        records, status, problem = trial_records(trial)
        frames.append(
            to_frames(
                records,
                run_config_of(trial.config, base),
                study=name,
                trial_id=trial.trial_id,
                trial_name=trial_name(trial.config),
                status=status,
            )
        )
        statuses[trial.trial_id] = status
        if status == "error":
            failures[trial.trial_id] = trial.error or f"see {trial.path}"
        if problem is not None:
            found.append(problem)
    if frames:
        epochs = pd.concat([e for e, _ in frames], ignore_index=True)
        layers = pd.concat([lay for _, lay in frames], ignore_index=True)
    else:
        epochs = pd.DataFrame(columns=EPOCH_COLUMNS + CONFIG_COLUMNS)
        layers = pd.DataFrame(columns=LAYER_COLUMNS + CONFIG_COLUMNS)
    epochs = epochs.drop_duplicates(["trial_id", "epoch"], keep="last", ignore_index=True)
    layers = layers.drop_duplicates(["trial_id", "epoch", "layer"], keep="last", ignore_index=True)
    out = Path(results) / name
    where = f"-> {out}"
    try:
        write_pair(
            epochs,
            layers,
            out / "epochs.parquet",
            out / "layers.parquet",
            meta=owner,
        )
    except OSError as err:  # a full disk, say: the old tables are kept, the run goes on
        where = "(not written)"
        found.append(
            f"cannot write the tables to {out} ({err.strerror or err}, on {device_of(out)}); "
            "the tables there are the previous ones: free space, then rerun with --export-only"
        )
    counts = pd.Series(list(statuses.values()), dtype=str).value_counts().to_dict()
    print(
        f"study {name}: trials {counts}; {len(epochs)} epoch rows, {len(layers)} layer rows {where}"
    )
    if counts.get("incomplete") or counts.get("error"):
        print(f"study {name}: rerun the same command to resume the unfinished trials")
    for trial_id, why in failures.items():
        print(f"study {name}: trial {trial_id} failed: {why}")
    for problem in found:
        print(f"study {name}: {problem}", file=sys.stderr)
    return StudyResult(epochs, layers, statuses, failures, problems=tuple(found))

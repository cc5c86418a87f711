"""A study's results: what each trial reports to Tune, read back as records and final statuses,
and written as the study's two tables (README: "Results"). No Ray here: the Tune side hands over
its trials and their reported metrics (`nc_core.tune.run.export`).

Each epoch a trial reports `reported_metrics` and, every `checkpoint_every` epochs and at its
last, a checkpoint folder (`write_checkpoint`: its `TrainState` and a small meta file). That
checkpoint holds one record per epoch of the lineage that survived restarts, so `trial_records`
reads records from it, not from the reported metrics (which repeat epochs after a restore); only
epochs reported after the last checkpoint come from metrics, without layer measures.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from nc_core.results.pair import write_pair
from nc_core.results.records import (
    CONFIG_COLUMNS,
    EPOCH_COLUMNS,
    LAYER_COLUMNS,
    EpochRecord,
    to_frames,
)
from nc_core.study.spec import SCALARS, StudyOptions, StudySpec
from nc_core.study.trial import run_config_of
from nc_core.train.state import TrainState, load_state, save_state

STATE_FILE, META_FILE = "state.pt", "meta.json"


@dataclass(frozen=True)
class StudyResult:
    """The exported tables of a study, each trial's status, why failed trials failed, and
    whether this run was interrupted (Ctrl-C): what the study script's exit status says."""

    epochs: pd.DataFrame
    layers: pd.DataFrame
    statuses: dict[str, str] = field(default_factory=dict)  # trial id -> status
    failures: dict[str, str] = field(default_factory=dict)  # trial id -> last error line
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        """130 when interrupted (as for SIGINT), 1 when a trial ended in error, else 0."""
        return 130 if self.interrupted else 1 if self.failures else 0


def no_result() -> StudyResult:
    """Empty tables of an interrupted study: stopped before Tune saved anything."""
    empty = pd.DataFrame(columns=EPOCH_COLUMNS + CONFIG_COLUMNS)
    return StudyResult(empty, pd.DataFrame(columns=LAYER_COLUMNS + CONFIG_COLUMNS), {}, {}, True)


# ---------------------------------------------------------------------------- one trial's reports


def reported_metrics(record: EpochRecord, status: str) -> dict:
    """What a trial reports to Tune at the end of an epoch: the record's scalars, its fixed
    layers and the trial's status so far."""
    metrics = {k: getattr(record, k) for k in SCALARS}
    metrics.update(
        layers_fixed=len(record.fixed_layers),
        fixed_layers=",".join(record.fixed_layers),
        status=status,
    )
    return metrics


def write_checkpoint(folder: Path, state: TrainState, record: EpochRecord, status: str) -> None:
    """Fill a checkpoint `folder`: the training `state` and the epoch (`record`'s) and `status`
    it was taken at."""
    save_state(state, folder / STATE_FILE)
    (folder / META_FILE).write_text(json.dumps({"epoch": record.epoch, "status": status}))


def trial_records(trial: Any, history: pd.DataFrame | None) -> tuple[list[EpochRecord], str]:
    """A Tune trial's records, one per epoch (those of its last checkpoint, then any epochs
    reported after it by the newest attempt), and its status. `trial`: a Tune `Trial`;
    `history`: its reported metrics, one row per report."""
    records, status = [], None
    if trial.checkpoint is not None:  # the latest one Tune recorded
        with trial.checkpoint.as_directory() as d:
            records = list(load_state(Path(d) / STATE_FILE).records)
            status = json.loads((Path(d) / META_FILE).read_text())["status"]
    if history is not None and len(history) and "epoch" in history:
        # After a restore, the history repeats epochs; the newest attempt is its longest tail
        # of strictly increasing epochs.
        epochs = history["epoch"].tolist()
        start = len(epochs) - 1
        while start > 0 and epochs[start - 1] < epochs[start]:
            start -= 1
        done = records[-1].epoch if records else 0
        later = history.iloc[start:]
        later = later[later["epoch"] > done]
        records += [record_from_metrics(row) for row in later.to_dict("records")]
        if len(later) or status is None:
            status = history["status"].iloc[-1]
    return records, final_status(trial.status, status, records)


def record_from_metrics(row: dict) -> EpochRecord:
    """An EpochRecord rebuilt from reported metrics (scalars only: no layer measures)."""
    fixed = row.get("fixed_layers")
    return EpochRecord(
        **{k: row[k] for k in SCALARS},
        fixed_layers=fixed.split(",") if isinstance(fixed, str) and fixed else [],
    )


def final_status(trial_status: str, reported: str | None, records: list[EpochRecord]) -> str:
    """ok / diverged (from train), error (failed max_failures + 1 times), stopped (by the
    scheduler), incomplete (not finished yet: interrupted, or still running)."""
    if reported == "diverged" or any(not math.isfinite(r.train_loss) for r in records):
        return "diverged"
    if reported == "ok":
        return "ok"
    return {"ERROR": "error", "TERMINATED": "stopped"}.get(trial_status, "incomplete")


def error_line(trial: Any) -> str:
    """The last line of failed Tune `Trial` `trial`'s error (Tune's error.txt): the exception
    and message."""
    path = Path(trial.path) / "error.txt" if trial.path else None
    try:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()] if path else []
    except OSError:
        lines = []
    return lines[-1].strip() if lines else f"see {trial.path}"


# ---------------------------------------------------------------------------- the study's tables


def write_tables(
    spec: StudySpec, opts: StudyOptions, trials: list, histories: dict[str, pd.DataFrame]
) -> StudyResult:
    """Rebuild <results>/<study>/{epochs,layers}.parquet from Tune's `trials` and their reported
    `histories` (trial id -> metrics) and replace both together (`nc_core.results.pair.write_pair`);
    print the trials that failed and why."""
    frames, statuses, failures = [], {}, {}
    for trial in trials:
        records, status = trial_records(trial, histories.get(trial.trial_id))
        frames.append(
            to_frames(
                records,
                run_config_of(trial.config, spec.base.to_dict()),
                study=spec.name,
                trial_id=trial.trial_id,
                status=status,
            )
        )
        statuses[trial.trial_id] = status
        if status == "error":
            failures[trial.trial_id] = error_line(trial)
    epochs = pd.concat([e for e, _ in frames], ignore_index=True)
    layers = pd.concat([lay for _, lay in frames], ignore_index=True)
    epochs = epochs.drop_duplicates(["trial_id", "epoch"], keep="last", ignore_index=True)
    layers = layers.drop_duplicates(["trial_id", "epoch", "layer"], keep="last", ignore_index=True)
    out = Path(opts.results) / spec.name
    write_pair(epochs, layers, out / "epochs.parquet", out / "layers.parquet")
    counts = pd.Series(list(statuses.values()), dtype=str).value_counts().to_dict()
    print(
        f"study {spec.name}: trials {counts}; {len(epochs)} epoch rows, {len(layers)} layer "
        f"rows -> {out}"
    )
    if counts.get("incomplete") or counts.get("error"):
        print(f"study {spec.name}: rerun the same command to resume the unfinished trials")
    for trial_id, why in failures.items():
        print(f"study {spec.name}: trial {trial_id} failed: {why}")
    return StudyResult(epochs, layers, statuses, failures)

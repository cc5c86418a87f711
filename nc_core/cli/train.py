"""`python -m nc_core.train`: one training run from the command line.

Every `RunConfig` field is a flag (its help is the field's doc), and so is every option of a
registered model (`--width`, `--dim`, read against `--model`); `--preset` picks the base values
and flags override them. `NC_PLUGINS` names modules that register more models or datasets. One
progress line per epoch; records go to Parquet (`--out`, and the per-layer table beside it as
`<out stem>.layers.parquet`). `--checkpoint PATH` saves the training state after every epoch
and, when PATH exists, resumes from it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nc_core.cli.args import Parser, add_fields, add_model_options, fail, given, model_options
from nc_core.registry import load_plugins
from nc_core.results.atomic import check_writable
from nc_core.results.pair import write_pair
from nc_core.results.records import EpochRecord, to_frames
from nc_core.train.config import RUN_FIELDS, RunConfig
from nc_core.train.presets import PRESETS, preset, preset_values

PROG = "python -m nc_core.train"


def build_parser(argv: list[str] | None = None) -> Parser:
    """The parser of `python -m nc_core.train`: run options, every RunConfig field and model
    option as a flag. Given the command line `argv`, --help shows as defaults the values its
    `--preset` (and `--model`) set."""
    p = Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--preset", default="quick", choices=sorted(PRESETS), help="base values (default: quick)"
    )
    p.add_argument("--out", type=Path, default=None, help="Parquet file for the epoch records")
    p.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="training-state file: saved every epoch, resumed from when it exists",
    )
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.add_argument(
        "--tensorboard",
        type=Path,
        default=None,
        metavar="DIR",
        help="write TensorBoard event files (per-epoch scalars, per-layer NCC and NC1) to DIR",
    )
    chosen = _chosen(argv or [])
    add_fields(p, RunConfig, skip=("arch",), default_from="--preset", chosen=chosen)
    add_model_options(p, taken=set(RUN_FIELDS), chosen=chosen)
    return p


def _chosen(argv: list[str]) -> dict[str, Any]:
    """The flat values of the preset (and model) named on the command line: what --help shows."""
    pick = {}
    for flag_ in ("--preset", "--model"):
        for i, word in enumerate(argv):
            if word == flag_ and i + 1 < len(argv):
                pick[flag_] = argv[i + 1]
            elif word.startswith(flag_ + "="):
                pick[flag_] = word.split("=", 1)[1]
    name = pick.get("--preset", "quick")
    try:
        values = preset_values(name, pick.get("--model"))
        return RunConfig.from_dict(values).to_dict()
    except ValueError:  # a bad name: the parser says so in one line
        return {}


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """The validated RunConfig of parsed arguments: `--preset`, then the flags given; a model's
    options are read against the run's model (ValueError naming a flag it does not take)."""
    overrides = given(args, RunConfig, skip=("arch",))
    model = overrides.get("model") or preset_values(args.preset)["model"]
    return preset(args.preset, **overrides, **model_options(args, model))


def progress_line(record: EpochRecord, cfg: RunConfig) -> str:
    """The one-line progress report of epoch `record` of run `cfg` (loss, accuracies as
    fractions, the tables' unit, fixed layers, timings)."""
    fixed = ",".join(record.fixed_layers) or "-"
    test = f"test_acc {record.test_acc:.4f}" if record.layers else "test_acc n/a   "
    return (
        f"epoch {record.epoch:3d}/{cfg.epochs}  loss {record.train_loss:.4f}  "
        f"train_acc {record.train_acc:.4f}  {test}  trainable {record.trainable_params:,}  "
        f"fixed {fixed}  ({record.epoch_seconds:.1f}s + eval {record.eval_seconds:.1f}s)"
    )


def layers_path(out: Path) -> Path:
    """Where `--out X.parquet` puts the per-layer table: X.layers.parquet."""
    return out.with_suffix(".layers.parquet")


def check_outputs(out: Path | None, checkpoint: Path | None) -> None:
    """Raise ValueError unless the output paths can be written and are three distinct files."""
    if out is not None and out.suffix != ".parquet":
        raise ValueError(f"--out {out}: expected a .parquet path")
    named = {}
    if out is not None:
        named.update({"--out": out, "--out's layer table": layers_path(out)})
    if checkpoint is not None:
        named["--checkpoint"] = checkpoint
    seen: dict[Path, str] = {}
    for flag, path in named.items():
        check_writable(path, flag=flag)
        key = path.absolute().resolve()
        if key in seen:
            raise ValueError(f"{flag} {path}: the same file as {seen[key]}; pass another path")
        seen[key] = flag


def main(argv: list[str] | None = None) -> int:
    """Run `python -m nc_core.train` on `argv` (default: sys.argv[1:]); return the exit status:
    0 when the run finished, 1 when it diverged, 2 on bad input."""
    from nc_core.results.tensorboard import TensorBoardLogger, check_tensorboard
    from nc_core.train.build import resolve_device
    from nc_core.train.loop import train
    from nc_core.train.resume import ResumeError, check_resume
    from nc_core.train.state import CheckpointError, load_state, save_state

    try:
        load_plugins()
    except ValueError as err:
        return fail(PROG, err)
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    state = None
    try:  # every check before any work: nothing is loaded, trained or written on bad input
        cfg = config_from_args(args)
        resolve_device(cfg.device)
        check_outputs(args.out, args.checkpoint)
        if args.tensorboard is not None:
            check_tensorboard(args.tensorboard)
        if args.checkpoint is not None and args.checkpoint.exists():
            state = load_state(args.checkpoint)
            check_resume(cfg, state)
    except ResumeError as err:
        return fail(PROG, f"--checkpoint {args.checkpoint}: {err}")
    except (ValueError, TypeError, CheckpointError) as err:
        return fail(PROG, err)
    if state is not None:
        print(f"resuming from {args.checkpoint} after epoch {state.epoch}")

    board = None
    if args.tensorboard is not None:
        board = TensorBoardLogger(args.tensorboard, hparams=cfg.to_dict())
    last: list = [state]  # the newest state: what a failed run keeps
    # what an interrupted run keeps and names: with --checkpoint, the newest state whose save
    # finished, so that the line, --out and the resume agree (a Ctrl-C can land mid-save)
    saved: list = [state]

    def on_epoch(record, st):
        last[0] = st
        if not args.checkpoint:
            saved[0] = st
        if not args.quiet:
            print(progress_line(record, cfg), flush=True)
        if board is not None:
            board(record)
        if args.checkpoint:
            try:
                save_state(st, args.checkpoint)
            except OSError as err:
                raise OutputFailed("--checkpoint", args.checkpoint, err) from err
            saved[0] = st

    try:
        result = train(cfg, on_epoch=on_epoch, state=state)
    except KeyboardInterrupt:
        return interrupted(args, cfg, saved[0])
    except Exception as err:  # one line, whatever failed; what was done is kept
        if last[0] is state and not isinstance(err, OutputFailed):  # no epoch yet: bad input
            where = f"--checkpoint {args.checkpoint}: " if state is not None else ""
            return fail(PROG, f"{where}{type(err).__name__}: {err}")
        return failed(args, cfg, last[0], err)
    finally:
        if board is not None:
            board.close()
    if result.status != "ok":
        print(f"run {result.status} after epoch {result.state.epoch}")
    if args.out is not None:
        epochs, layers = to_frames(result.records, cfg, status=result.status)
        try:
            write_pair(epochs, layers, args.out, layers_path(args.out))
        except OSError as err:
            return failed(args, cfg, result.state, OutputFailed("--out", args.out, err))
        print(f"wrote {args.out} ({len(epochs)} rows) and {layers_path(args.out)}")
    return 0 if result.status == "ok" else 1


class OutputFailed(Exception):
    """An output (`flag`, at `path`) that could not be written once the run had started."""

    def __init__(self, flag: str, path: Path, err: OSError) -> None:
        super().__init__(f"cannot write {flag} {path} ({err.strerror or err})")
        self.flag, self.path, self.err = flag, path, err


def failed(args: argparse.Namespace, cfg: RunConfig, state: object, err: Exception) -> int:
    """A failure once epochs were done: one line naming it and what was kept; the epochs done go
    to --out (status "error") where --out itself did not fail. Returns 1."""
    from nc_core.results.atomic import device_of

    done = getattr(state, "epoch", 0)
    if isinstance(err, OutputFailed):
        why = f"{err} on {device_of(err.path)}"
    else:
        why = " ".join(f"{type(err).__name__}: {err}".split())
    kept = []
    saved = args.checkpoint is not None and args.checkpoint.exists()
    if saved:
        kept.append(f"{args.checkpoint} (rerun the same command to resume from it)")
    out_failed = isinstance(err, OutputFailed) and err.flag == "--out"
    if args.out is not None and not out_failed and state is not None and state.records:
        epochs, layers = to_frames(state.records, cfg, status="error")
        try:
            write_pair(epochs, layers, args.out, layers_path(args.out))
            kept.append(f"the {len(epochs)} epochs done in {args.out}")
        except OSError:
            pass
    what = "; kept " + " and ".join(kept) if kept else "; nothing could be kept"
    print(f"{PROG}: failed after epoch {done}: {why}{what}", file=sys.stderr)
    return 1


def interrupted(args: argparse.Namespace, cfg: RunConfig, state: object) -> int:
    """Ctrl-C: one line saying what was kept and how to go on; the epochs done so far go to
    --out (status "incomplete"). Returns 130, the exit status of a SIGINT."""
    done = getattr(state, "epoch", 0)
    if args.checkpoint is not None and state is not None:
        how = f"rerun the same command to resume from {args.checkpoint}"
    else:
        how = "no --checkpoint: nothing kept to resume from"
    if args.out is not None and state is not None and state.records:
        epochs, layers = to_frames(state.records, cfg, status="incomplete")
        write_pair(epochs, layers, args.out, layers_path(args.out))
        how += f"; the {len(epochs)} epochs done are in {args.out}"
    print(f"{PROG}: interrupted after epoch {done}; {how}", file=sys.stderr)
    return 130


if __name__ == "__main__":
    sys.exit(main())

"""Training with neural-collapse measurement and ETF policies: `train(cfg) -> RunResult`.

Per epoch: one pass over the in-memory train split (a seeded permutation slices batches), then
every `eval_every` epochs an NC evaluation (`nc_core.measure.evaluate`), then the policy decides
which layers to fix. A fixed layer's parameters leave the optimizer, momentum buffers included, so
the savings are real. Runs without Ray; its command line is `python -m nc_core.train`
(`nc_core.cli.train`).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from nc_core.data.augment import augment_generator, crop_flip
from nc_core.data.files import data_trace
from nc_core.data.split import Split, batches, stratified_subset
from nc_core.fixing.etf import FIXED_LAYERS, count_parameters
from nc_core.measure.evaluate import Evaluation, evaluate
from nc_core.models.adapter import ModelAdapter
from nc_core.results.records import EpochRecord, LayerRecord
from nc_core.train.build import (
    build_adapter,
    build_model,
    build_optimizer,
    build_policy,
    fix_layer,
    load_data,
    lr_at,
    rebuild_optimizer,
    resolve_device,
)
from nc_core.train.checks import check_last_batch
from nc_core.train.config import RunConfig
from nc_core.train.resume import check_resume
from nc_core.train.state import TrainState
from nc_core.train.step import TrainStep

OnEpoch = Callable[[EpochRecord, TrainState], None]


@dataclass
class RunResult:
    """A finished (or diverged) run: its config, one record per epoch, status, final state."""

    cfg: RunConfig
    records: list[EpochRecord]
    status: str  # "ok" | "diverged"
    state: TrainState


@dataclass(frozen=True)
class Fixed:
    """One fixed measured layer: the epoch at whose end it was fixed (0: before training), what
    it became, and whether the model's builder fixed it (so a restore rebuilds it by building)."""

    epoch: int
    kind: str
    linears: tuple[str, ...]
    built: bool = False


def optimizer_state_bytes(opt: torch.optim.Optimizer) -> int:
    """Bytes of the optimizer's per-parameter state tensors (momentum, Adam moments)."""
    return sum(
        v.numel() * v.element_size()
        for s in opt.state.values()
        for v in s.values()
        if torch.is_tensor(v) and v.ndim > 0
    )


def built_fixed(model: nn.Module, adapter: ModelAdapter) -> dict[str, Fixed]:
    """The measured layers whose linears (or convs) the builder made fixed (an ETF-Transformer's
    blocks)."""
    out = {}
    for layer in adapter.layers:
        mods = [model.get_submodule(n) for n in adapter.linears_of(layer)]
        if mods and all(isinstance(m, FIXED_LAYERS) for m in mods):
            out[layer] = Fixed(0, mods[0].kind, adapter.linears_of(layer), built=True)
    return out


def layer_records(ev: Evaluation, fixed: dict[str, Fixed]) -> dict[str, LayerRecord]:
    """The evaluation's per-layer measures as records, each with its fixed state."""
    out = {}
    for name, m in ev.layers.items():
        fix = fixed.get(name)
        out[name] = LayerRecord(
            **m.as_dict(),
            fixed_as=fix.kind if fix else "",
            fixed_epoch=fix.epoch if fix else -1,
        )
    return out


class _Run:
    """The live objects of one run; `state()` snapshots them as a TrainState."""

    def __init__(self, cfg: RunConfig, data: tuple[Split, Split] | None, state: TrainState | None):
        self.cfg = cfg.validate()
        if state is not None:
            check_resume(cfg, state)
        self.device = resolve_device(cfg.device)
        train, test = data if data is not None else load_data(cfg)
        self.data_dir, self.data_digest = data_trace(train.source)  # which data, on every row
        if cfg.subset is not None:
            train = stratified_subset(train, cfg.subset)
        smallest = int(torch.bincount(train.y).min())
        nc = (
            train
            if cfg.nc_samples is None or cfg.nc_samples >= smallest
            else stratified_subset(train, cfg.nc_samples)
        )
        self.train, self.nc, self.test = (s.to(self.device) for s in (train, nc, test))
        self.model = build_model(cfg, input_shape=tuple(train.x.shape[1:])).to(self.device)
        check_last_batch(cfg.batch_size, len(train), self.model)  # before the first epoch
        self.adapter = build_adapter(cfg, self.model)
        self.policy = build_policy(cfg, self.adapter)
        # The one map of what is fixed: measured layer -> when, as what, which linears.
        self.fixed: dict[str, Fixed] = built_fixed(self.model, self.adapter)
        if state is None:
            self.epoch, self.records, self.status = 0, [], "ok"
            self._fix(self.policy.initial(list(self.adapter.layers)), epoch=0)
            self.opt = build_optimizer(cfg, self.model)
        else:
            self._restore(state)
        use_bf16 = cfg.precision == "bf16" and self.device.type == "cuda"
        self.autocast = (
            (lambda: torch.autocast("cuda", dtype=torch.bfloat16))
            if use_bf16
            else contextlib.nullcontext
        )
        self.train_step = TrainStep(
            self.model, bf16=use_bf16, compile=cfg.compile, device=self.device
        )

    def _fix(self, layers: list[str], *, epoch: int) -> list[str]:
        """Fix each of `layers` not fixed yet, as the policy's kind; return those fixed."""
        new = [n for n in layers if n not in self.fixed]
        kind = self.policy.kind
        for layer in new:
            fix_layer(self.model, self.adapter, layer, kind, self.cfg.seed)
            self.fixed[layer] = Fixed(epoch, kind, self.adapter.linears_of(layer))
        return new

    def _decide(self, record: EpochRecord) -> None:
        """After the evaluation of epoch `self.epoch`: fix what the policy has ready, record it
        in `record.fixed_at_end`, and drop the fixed parameters from the optimizer. Not after the
        last epoch: a layer fixed then would be neither trained nor measured."""
        if self.epoch >= self.cfg.epochs:
            return
        new = self._fix(self.policy.ready(self.epoch), epoch=self.epoch)
        if new:
            record.fixed_at_end = [*record.fixed_at_end, *new]
            self.opt = rebuild_optimizer(self.cfg, self.model, self.opt)

    def _restore(self, state: TrainState) -> None:
        for layer, epoch in state.fixed_layers.items():
            if layer in self.fixed:  # built fixed: the builder made it so again
                continue
            linears = self.adapter.linears_of(layer)
            kind = state.fixed.get(linears[0], self.policy.kind) if linears else self.policy.kind
            fix_layer(self.model, self.adapter, layer, kind, self.cfg.seed)
            self.fixed[layer] = Fixed(epoch, kind, linears)
        self.model.load_state_dict(state.model)
        self.opt = build_optimizer(self.cfg, self.model)
        self.opt.load_state_dict(state.optimizer)
        self.policy.load_state_dict(state.policy)
        self.epoch, self.records, self.status = state.epoch, list(state.records), state.status
        torch.set_rng_state(state.rng["cpu"])
        if "cuda" in state.rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(state.rng["cuda"], self.device)
        last = self.records[-1] if self.records else None
        if last is not None and last.layers:
            # An extended run: the decision skipped after the old last epoch is taken now,
            # exactly as a run of this length would have taken it then.
            self._decide(last)

    def state(self) -> TrainState:
        rng = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        by_policy = {n: f for n, f in self.fixed.items() if not f.built}
        return TrainState(
            config=self.cfg.to_dict(),
            epoch=self.epoch,
            status=self.status,
            model=self.model.state_dict(),
            optimizer=self.opt.state_dict(),
            policy=self.policy.state_dict(),
            fixed={name: f.kind for f in by_policy.values() for name in f.linears},
            fixed_layers={n: f.epoch for n, f in self.fixed.items()},
            records=list(self.records),
            rng=rng,
        )

    def train_epoch(self) -> tuple[float, float, float]:
        """One pass over the train split: (mean loss, accuracy, seconds)."""
        lr = lr_at(self.cfg, self.epoch)
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.model.train()
        loss_sum = torch.zeros((), device=self.device)
        hits = torch.zeros((), device=self.device)
        start = time.perf_counter()
        self.train_step.begin_epoch()  # compiled: re-captured when layers were fixed
        gen = augment_generator(self.cfg.seed, self.epoch)
        for x, y in batches(self.train, self.cfg.batch_size, seed=self.cfg.seed, epoch=self.epoch):
            if self.cfg.augment == "crop_flip":
                x = crop_flip(x, gen)
            loss, batch_hits = self.train_step(x, y)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            loss_sum += loss.detach() * y.shape[0]
            hits += batch_hits
        n = len(self.train)
        mean_loss, acc = loss_sum.item() / n, hits.item() / n  # the epoch's one synchronisation
        return mean_loss, acc, time.perf_counter() - start

    def step(self) -> EpochRecord:
        """Train one epoch, measure, let the policy fix layers; return the epoch's record.

        Every field of the record describes the model as it was trained and measured in this
        epoch; `fixed_at_end` says what the policy fixed afterwards. After the last epoch the
        policy only observes, and the returned model is the one measured."""
        cfg = self.cfg
        trainable, total = count_parameters(self.model)
        fixed_now = [n for n in self.adapter.layers if n in self.fixed]
        train_loss, train_acc, seconds = self.train_epoch()
        self.epoch += 1
        record = EpochRecord(
            epoch=self.epoch,
            train_loss=train_loss,
            train_acc=train_acc,
            test_loss=math.nan,
            test_acc=math.nan,
            epoch_lr=lr_at(cfg, self.epoch - 1),
            trainable_params=trainable,
            total_params=total,
            optimizer_state_bytes=optimizer_state_bytes(self.opt),
            epoch_seconds=seconds,
            eval_seconds=0.0,
            data_dir=self.data_dir,
            data_digest=self.data_digest,
            fixed_layers=fixed_now,
        )
        if not math.isfinite(train_loss):
            self.status = "diverged"
        elif self.epoch % cfg.eval_every == 0 or self.epoch == cfg.epochs:
            start = time.perf_counter()
            ev = evaluate(
                self.model,
                self.adapter,
                self.nc,
                self.test,
                num_classes=cfg.K,
                autocast=self.autocast,
            )
            record.test_loss, record.test_acc = ev.test_loss, ev.test_acc
            record.pred_classes, record.pred_entropy = ev.pred_classes, ev.pred_entropy
            record.layers = layer_records(ev, self.fixed)
            record.eval_seconds = time.perf_counter() - start
            self.policy.observe({n: m.train_ncc_error for n, m in ev.layers.items()})
            self._decide(record)
        self.records.append(record)
        return record


def train(
    cfg: RunConfig,
    *,
    on_epoch: OnEpoch | None = None,
    state: TrainState | None = None,
    data: tuple[Split, Split] | None = None,
) -> RunResult:
    """Train `cfg` to `cfg.epochs` epochs, from scratch or from `state`.

    `on_epoch(record, state)` runs after every epoch; `state` is a snapshot valid during the call
    (save it there with `save_state`). A non-finite train loss stops the run as "diverged".
    """
    run = _Run(cfg, data, state)
    while run.epoch < cfg.epochs and run.status == "ok":
        record = run.step()
        if on_epoch is not None:
            on_epoch(record, run.state())
    return RunResult(cfg=cfg, records=run.records, status=run.status, state=run.state())

"""Training with neural-collapse measurement and ETF policies: `train(cfg) -> RunResult`.

Per epoch: one pass over the in-memory train split (a seeded permutation slices batches), then
every `eval_every` epochs an NC evaluation (`nc_core.measure.evaluate`), then the policy decides which
layers to fix. A fixed layer's parameters leave the optimizer, momentum buffers included, so the
savings are real. Runs without Ray; its command line is `python -m nc_core.train` (`nc_core.cli.train`).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

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
from nc_core.train.config import RunConfig
from nc_core.data.split import Split, batches, stratified_subset
from nc_core.fixing.etf import count_parameters, freeze_to_etf, layer_seed
from nc_core.measure.evaluate import evaluate
from nc_core.results.records import EpochRecord
from nc_core.train.resume import check_resume
from nc_core.train.state import TrainState
from nc_core.train.step import TrainStep
from nc_core.models.vit_fixing import parse_blocks

OnEpoch = Callable[[EpochRecord, TrainState], None]


@dataclass
class RunResult:
    cfg: RunConfig
    records: list[EpochRecord]
    status: str  # "ok" | "diverged"
    state: TrainState


def optimizer_state_bytes(opt: torch.optim.Optimizer) -> int:
    return sum(
        v.numel() * v.element_size()
        for s in opt.state.values()
        for v in s.values()
        if torch.is_tensor(v) and v.ndim > 0
    )


class _Run:
    """The live objects of one run; `state()` snapshots them as a TrainState."""

    def __init__(self, cfg: RunConfig, data: tuple[Split, Split] | None, state: TrainState | None):
        self.cfg = cfg.validate()
        if state is not None:
            check_resume(cfg, state)
        self.device = resolve_device(cfg.device)
        train, test = data if data is not None else load_data(cfg)
        if cfg.subset is not None:
            train = stratified_subset(train, cfg.subset)
        smallest = int(torch.bincount(train.y).min())
        nc = (
            train
            if cfg.nc_samples is None or cfg.nc_samples >= smallest
            else stratified_subset(train, cfg.nc_samples)
        )
        self.train, self.nc, self.test = (s.to(self.device) for s in (train, nc, test))
        self.model = build_model(cfg, in_dim=train.x[0].numel()).to(self.device)
        self.adapter = build_adapter(cfg, self.model)
        self.policy = build_policy(cfg, self.adapter)
        self.fixed: dict[str, str] = {}  # linear name -> kind (the policy's fixes)
        self.fixed_layers: dict[str, int] = {}  # measured layer -> epoch it was fixed at
        if state is None:
            self.epoch, self.records, self.status = 0, [], "ok"
            if cfg.model == "vit":  # ETF feedforwards built in from the start count as fixed
                for i in parse_blocks(cfg.etf_blocks, cfg.vit_depth):
                    self.fixed_layers[f"blocks.{i}"] = 0
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
        new = [n for n in layers if n not in self.fixed_layers]
        for layer in new:
            kind, seed = self.policy.kind, self.cfg.seed
            self.fixed.update(fix_layer(self.model, self.adapter, layer, kind, seed))
            self.fixed_layers[layer] = epoch
        return new

    def _restore(self, state: TrainState) -> None:
        for name, kind in state.fixed.items():
            freeze_to_etf(self.model, name, kind=kind, seed=layer_seed(name, self.cfg.seed))
        self.model.load_state_dict(state.model)
        self.opt = build_optimizer(self.cfg, self.model)
        self.opt.load_state_dict(state.optimizer)
        self.policy.load_state_dict(state.policy)
        self.fixed, self.fixed_layers = dict(state.fixed), dict(state.fixed_layers)
        self.epoch, self.records, self.status = state.epoch, list(state.records), state.status
        torch.set_rng_state(state.rng["cpu"])
        if "cuda" in state.rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(state.rng["cuda"], self.device)
        last = self.records[-1] if self.records else None
        if last is not None and last.layers and self.epoch < self.cfg.epochs:
            # An extended run: the decision skipped after the old last epoch is taken now,
            # exactly as a run of this length would have taken it then.
            new = self._fix(self.policy.ready(self.epoch), epoch=self.epoch)
            if new:
                last.fixed_at_end = [*last.fixed_at_end, *new]
                self.opt = rebuild_optimizer(self.cfg, self.model, self.opt)

    def state(self) -> TrainState:
        rng = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return TrainState(
            config=self.cfg.to_dict(),
            epoch=self.epoch,
            status=self.status,
            model=self.model.state_dict(),
            optimizer=self.opt.state_dict(),
            policy=self.policy.state_dict(),
            fixed=dict(self.fixed),
            fixed_layers=dict(self.fixed_layers),
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
        for x, y in batches(self.train, self.cfg.batch_size, seed=self.cfg.seed, epoch=self.epoch):
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
        policy only observes: a layer fixed then would be neither trained nor measured, and the
        returned model is the one measured."""
        cfg = self.cfg
        trainable, total = count_parameters(self.model)
        fixed_now = [n for n in self.adapter.layers if n in self.fixed_layers]
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
                num_classes=cfg.num_classes,
                autocast=self.autocast,
            )
            record.test_loss, record.test_acc, record.layers = ev.test_loss, ev.test_acc, ev.layers
            record.pred_classes, record.pred_entropy = ev.pred_classes, ev.pred_entropy
            record.eval_seconds = time.perf_counter() - start
            for name, rec in record.layers.items():
                if name in self.fixed_layers:
                    rec.fixed_as, rec.fixed_epoch = self.policy.kind, self.fixed_layers[name]
            self.policy.observe({n: 1.0 - r.train_ncc_acc for n, r in record.layers.items()})
            if self.epoch < cfg.epochs:
                record.fixed_at_end = self._fix(self.policy.ready(self.epoch), epoch=self.epoch)
                if record.fixed_at_end:
                    self.opt = rebuild_optimizer(cfg, self.model, self.opt)
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

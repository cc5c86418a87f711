"""Training with neural-collapse measurement and ETF policies: `train(cfg) -> RunResult`.

Per epoch: one pass over the in-memory train split (a seeded permutation slices batches), then
every `eval_every` epochs an NC evaluation (`nc_core.evaluate`), then the policy decides which
layers to fix. A fixed layer's parameters leave the optimizer, momentum buffers included, so the
savings are real. Runs without Ray; `python -m nc_core.train --help` is its command line.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from nc_core.config import RunConfig
from nc_core.data import Split, batches, load_fashion_mnist, stratified_subset, synthetic_classes
from nc_core.etf import count_parameters, freeze_to_etf, layer_seed
from nc_core.evaluate import evaluate
from nc_core.mlp import MLP
from nc_core.policy import AdaptiveETF, NoFreeze, StaticETF
from nc_core.records import EpochRecord
from nc_core.state import TrainState
from nc_core.vit import ViT, etf_factory, ffn_linear_names, parse_blocks

OnEpoch = Callable[[EpochRecord, TrainState], None]


@dataclass
class RunResult:
    cfg: RunConfig
    records: list[EpochRecord]
    status: str  # "ok" | "diverged"
    state: TrainState


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"RunConfig.device={name!r}: CUDA is not available on this machine")
    return device


def load_data(cfg: RunConfig) -> tuple[Split, Split]:
    """(train, test) for `cfg.dataset`, before any subset is taken."""
    if cfg.dataset == "synthetic":
        return synthetic_classes(cfg.num_classes, 32, 300, seed=cfg.seed, n_test_per_class=100)
    return load_fashion_mnist()


def build_model(cfg: RunConfig, in_dim: int) -> nn.Module:
    """The network of `cfg`, its ViT feedforward ETFs (etf_blocks) already in place."""
    if cfg.model == "mlp":
        return MLP(
            in_dim=in_dim,
            width=cfg.width,
            depth=cfg.depth,
            num_classes=cfg.num_classes,
            batch_norm=cfg.batch_norm,
        )
    names = set(ffn_linear_names(parse_blocks(cfg.etf_blocks, cfg.vit_depth), cfg.etf_linears))
    return ViT(
        patch_size=cfg.vit_patch,
        dim=cfg.vit_dim,
        depth=cfg.vit_depth,
        heads=cfg.vit_heads,
        mlp_ratio=cfg.vit_mlp_ratio,
        num_classes=cfg.num_classes,
        dropout=cfg.vit_dropout,
        linear_factory=etf_factory(names, kind=cfg.kind, seed=cfg.seed) if names else None,
        adaptive_linears=cfg.etf_linears,
    )


def build_policy(cfg: RunConfig, model: nn.Module):
    if cfg.policy == "adaptive":
        # On a ViT only blocks qualify (their feedforward is fixed); on the MLP the classifier too.
        layers = (
            [n for n in model.nc_layers if n != model.classifier_name]
            if cfg.model == "vit"
            else None
        )
        return AdaptiveETF(
            cfg.eps,
            patience=cfg.patience,
            mode=cfg.mode,
            kind=cfg.kind,
            layers=layers,
            min_epoch=cfg.min_epoch,
            max_fixed=cfg.max_fixed,
        )
    if cfg.policy == "static":
        return StaticETF(cfg.fix_from, kind=cfg.kind)
    return NoFreeze(kind=cfg.kind)


def build_optimizer(cfg: RunConfig, model: nn.Module) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    # foreach: one multi-tensor update instead of a loop over parameters (the CUDA default; on
    # the CPU it cuts about a tenth off a step of the paper's MLP).
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)
    return torch.optim.SGD(
        params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, foreach=True
    )


def lr_at(cfg: RunConfig, epoch: int) -> float:
    """Learning rate for 0-based `epoch`: linear warm-up, then constant / multistep / cosine."""
    if epoch < cfg.warmup_epochs:
        return cfg.lr * (epoch + 1) / (cfg.warmup_epochs + 1)
    t = (epoch - cfg.warmup_epochs) / max(cfg.epochs - cfg.warmup_epochs, 1)
    if cfg.schedule == "multistep":  # x0.1 at 1/2 and 3/4 of training
        return cfg.lr * 0.1 ** ((t >= 0.5) + (t >= 0.75))
    if cfg.schedule == "cosine":
        return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * t))
    return cfg.lr


def optimizer_state_bytes(opt: torch.optim.Optimizer) -> int:
    return sum(
        v.numel() * v.element_size()
        for s in opt.state.values()
        for v in s.values()
        if torch.is_tensor(v) and v.ndim > 0
    )


def _fix(model: nn.Module, layer: str, kind: str, seed: int) -> dict[str, str]:
    fixed = {}
    for name in model.linears_of(layer):
        freeze_to_etf(model, name, kind=kind, seed=layer_seed(name, seed))
        fixed[name] = kind
    return fixed


def _rebuild_optimizer(cfg: RunConfig, model: nn.Module, old: torch.optim.Optimizer):
    """A new optimizer over the still-trainable parameters, their state (momentum) carried over."""
    new = build_optimizer(cfg, model)
    for group in new.param_groups:
        group["lr"] = old.param_groups[0]["lr"]
        for p in group["params"]:
            if p in old.state:
                new.state[p] = old.state[p]
    return new


class _Run:
    """The live objects of one run; `state()` snapshots them as a TrainState."""

    def __init__(self, cfg: RunConfig, data: tuple[Split, Split] | None, state: TrainState | None):
        self.cfg = cfg.validate()
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
        torch.manual_seed(cfg.seed)
        self.model = build_model(cfg, in_dim=train.x[0].numel()).to(self.device)
        self.policy = build_policy(cfg, self.model)
        self.fixed: dict[str, str] = {}
        self.fixed_layers: dict[str, int] = {}
        if state is None:
            self.epoch, self.records, self.status = 0, [], "ok"
            if cfg.model == "vit":  # ETF feedforwards built in from the start count as fixed
                for i in parse_blocks(cfg.etf_blocks, cfg.vit_depth):
                    self.fixed_layers[f"blocks.{i}"] = 0
            for layer in self.policy.initial(list(self.model.nc_layers)):
                self.fixed.update(_fix(self.model, layer, cfg.kind, cfg.seed))
                self.fixed_layers[layer] = 0
            self.opt = build_optimizer(cfg, self.model)
        else:
            self._restore(state)
        use_bf16 = cfg.precision == "bf16" and self.device.type == "cuda"
        self.autocast = (
            (lambda: torch.autocast("cuda", dtype=torch.bfloat16))
            if use_bf16
            else contextlib.nullcontext
        )

    def _restore(self, state: TrainState) -> None:
        ours = {k: v for k, v in self.cfg.to_dict().items() if k not in ("epochs", "device")}
        theirs = {k: v for k, v in state.config.items() if k not in ("epochs", "device")}
        if ours != theirs:
            diff = sorted(k for k in ours if ours[k] != theirs.get(k))
            raise ValueError(f"training state was made with a different config (fields {diff})")
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
        for x, y in batches(self.train, self.cfg.batch_size, seed=self.cfg.seed, epoch=self.epoch):
            with self.autocast():
                logits = self.model(x)  # (B, K)
                loss = F.cross_entropy(logits, y)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            loss_sum += loss.detach() * y.shape[0]
            hits += (logits.detach().argmax(1) == y).sum()
        n = len(self.train)
        mean_loss, acc = loss_sum.item() / n, hits.item() / n  # the epoch's one synchronisation
        return mean_loss, acc, time.perf_counter() - start

    def step(self) -> EpochRecord:
        """Train one epoch, measure, let the policy fix layers; return the epoch's record."""
        cfg = self.cfg
        trainable, total = count_parameters(self.model)
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
        )
        if not math.isfinite(train_loss):
            self.status = "diverged"
        elif self.epoch % cfg.eval_every == 0 or self.epoch == cfg.epochs:
            start = time.perf_counter()
            record.test_loss, record.test_acc, record.layers = evaluate(
                self.model, self.nc, self.test, num_classes=cfg.num_classes, autocast=self.autocast
            )
            record.eval_seconds = time.perf_counter() - start
            ncc_error = {n: 1.0 - r.train_ncc_acc for n, r in record.layers.items()}
            new = [
                n for n in self.policy.decide(ncc_error, self.epoch) if n not in self.fixed_layers
            ]
            for layer in new:
                self.fixed.update(_fix(self.model, layer, self.policy.kind, cfg.seed))
                self.fixed_layers[layer] = self.epoch
            if new:
                self.opt = _rebuild_optimizer(cfg, self.model, self.opt)
        for name, rec in record.layers.items():
            if name in self.fixed_layers:
                rec.fixed_as, rec.fixed_epoch = self.policy.kind, self.fixed_layers[name]
        record.fixed_layers = [n for n in self.model.nc_layers if n in self.fixed_layers]
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


if __name__ == "__main__":
    import sys

    from nc_core.cli import main

    sys.exit(main())

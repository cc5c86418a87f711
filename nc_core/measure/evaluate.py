"""One neural-collapse evaluation of a model: three streaming passes, every layer at once.

1. NC sample of the train set -> per-layer ClassStats (class means, variances, Sigma_W).
2. The same sample -> train NCC and linear-probe accuracy per layer, NC4 at the classifier, and
   which units of each layer's nonlinearity are ever active.
3. The test set -> test loss and accuracy, test NCC and probe accuracy per layer (train-sample
   means and probes), and the histogram of predicted classes (mode collapse).
Passes 2 and 3 are `ncc_pass`, the one NCC pass. Each layer's linear probe
(`metrics.ridge_probe`) is solved between passes 1 and 2 from the class statistics of pass 1, so
it costs one (D, D) solve per layer and a (B, D) x (D, K) product per batch, no extra pass.
Hooks only collect (`LayerTap`); the measures are the pure functions of
`nc_core.measure.metrics`; what is measured in a model is its `ModelAdapter`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction

import torch
import torch.nn.functional as F
from torch import nn

from nc_core.data.split import Split, batches
from nc_core.measure import metrics
from nc_core.measure.taps import LayerTap, eval_mode, layer_stats
from nc_core.models.adapter import ModelAdapter

EVAL_BATCH = 2000


@dataclass(frozen=True)
class NCCResult:
    """One NCC pass over a split: per-layer NCC and probe hits, and the network's predictions."""

    n: int  # samples in the split
    ncc_correct: dict[str, int]  # measured layer -> samples its nearest class mean got right
    probe_correct: dict[str, int]  # measured layer -> samples its linear probe got right
    dead: dict[str, float]  # layer -> share of units never > 0 (only layers with activations)
    nc4_disagree: int  # samples where argmax(logits) != the penultimate's NCC prediction
    loss: float  # mean cross-entropy
    correct: int  # samples the network classified right
    counts: list[int]  # (K,) predictions per class

    def ncc_accuracy(self, layer: str) -> float:
        """Share of the split that the nearest class mean of `layer` classified right."""
        return self.ncc_correct[layer] / self.n

    def probe_accuracy(self, layer: str) -> float:
        """Share of the split that the linear probe of `layer` classified right (NaN: none)."""
        return self.probe_correct[layer] / self.n if layer in self.probe_correct else math.nan

    @property
    def acc(self) -> float:
        """Share of the split that the network classified right."""
        return self.correct / self.n


@dataclass(frozen=True)
class LayerMeasures:
    """Every measure of one layer at one evaluation (NaN where not defined): the fields of
    `nc_core.results.records.LayerRecord` that measurement fills."""

    index: int  # position among the measured layers, 0 = closest to the input
    train_ncc_acc: float
    test_ncc_acc: float
    train_ncc_wrong: int  # NC-sample points the layer's nearest class mean got wrong
    nc_n: int  # NC-sample points
    probe_train_acc: float
    probe_test_acc: float
    nc1: float
    nc2_equinorm: float
    nc2_equiangle: float
    etf_distance: float
    nc3: float
    nc4: float
    cdnv: float
    rank_means: float
    erank_means: float
    rank_cov: float
    erank_cov: float
    dead_units: float

    @property
    def train_ncc_error(self) -> Fraction:
        """The train NCC error as an exact fraction (wrong / n), so that a threshold comparison
        (`error <= eps`) is decided on counts, never on a rounded 1 - accuracy."""
        return Fraction(self.train_ncc_wrong, self.nc_n)

    def as_dict(self) -> dict:
        """The record fields (`LayerRecord`'s)."""
        return asdict(self)


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation measured: test loss and accuracy, prediction histogram, layers."""

    test_loss: float
    test_acc: float
    pred_counts: list[int]  # (K,) test predictions per class
    layers: dict[str, LayerMeasures]

    @property
    def pred_classes(self) -> int:
        """Classes predicted for at least one test sample."""
        return sum(c > 0 for c in self.pred_counts)

    @property
    def pred_entropy(self) -> float:
        """Entropy (nats) of the test prediction histogram (`metrics.prediction_entropy`)."""
        return metrics.prediction_entropy(torch.tensor(self.pred_counts))


def ncc_pass(
    model: nn.Module,
    adapter: ModelAdapter,
    split: Split,
    means: dict[str, torch.Tensor],
    autocast: Callable[[], contextlib.AbstractContextManager],
    *,
    num_classes: int,
    activations: dict[str, str] | None = None,
    probes: dict[str, metrics.LinearProbe] | None = None,
    batch_size: int = EVAL_BATCH,
) -> NCCResult:
    """One streaming pass over `split`, in eval mode without gradients: NCC accuracy of every
    measured layer against `means` (layer -> (K, D), the penultimate's included), loss, accuracy,
    NC4 and predicted-class counts; with `activations` (layer -> module), which units are ever > 0;
    with `probes` (layer -> LinearProbe), each probe's hits on the same features.
    `autocast` makes the context each forward pass runs in (e.g. bf16 autocast).
    """
    if len(split) == 0:
        raise ValueError("ncc_pass: no samples in split; pass a split with at least one sample")
    names, penult = list(adapter.layers), adapter.penultimate
    act = activations or {}
    device = split.x.device
    probes = probes or {}
    correct = {n: torch.zeros((), device=device) for n in names}
    probe_hits = {n: torch.zeros((), device=device) for n in probes}
    active: dict[str, torch.Tensor] = {}
    nc4 = torch.zeros((), device=device)
    loss = torch.zeros((), device=device)
    hits = torch.zeros((), device=device)
    counts = torch.zeros(num_classes, dtype=torch.long, device=device)
    tapped = [*names, penult, *act.values()]
    with eval_mode(model), LayerTap(model, tapped, reduce=adapter.reduce) as tap:
        for x, y in batches(split, batch_size, shuffle=False):
            with autocast():
                logits = model(x)  # (B, K)
            pred = logits.argmax(1)  # (B,)
            for n in names:
                h = tap.outputs[n].to(means[n].dtype)  # (B, D), cast once for NCC and probe
                correct[n] += (metrics.ncc_predict(h, means[n]) == y).sum()
                if n in probes:
                    probe_hits[n] += (metrics.probe_predict(h, probes[n]) == y).sum()
            for layer, module in act.items():
                on = (tap.outputs[module] > 0).any(0)  # (D,)
                active[layer] = on if layer not in active else active[layer] | on
            ncc_penult = metrics.ncc_predict(tap.outputs[penult], means[penult])
            nc4 += (pred != ncc_penult).sum()
            loss += F.cross_entropy(logits.float(), y, reduction="sum")
            hits += (pred == y).sum()
            counts += torch.bincount(pred, minlength=num_classes)
    N = len(split)
    return NCCResult(
        n=N,
        ncc_correct={n: int(correct[n].item()) for n in names},
        probe_correct={n: int(h.item()) for n, h in probe_hits.items()},
        dead={n: 1.0 - a.double().mean().item() for n, a in active.items()},
        nc4_disagree=int(nc4.item()),
        loss=loss.item() / N,
        correct=int(hits.item()),
        counts=counts.tolist(),
    )


def evaluate(
    model: nn.Module,
    adapter: ModelAdapter,
    nc_split: Split,
    test: Split,
    *,
    num_classes: int,
    autocast: Callable[[], contextlib.AbstractContextManager],
) -> Evaluation:
    """Every measure of every layer in `adapter.layers`, and the test loss and accuracy:
    class statistics and train NCC on `nc_split`, test measures on `test`. `autocast` makes the
    context each forward pass runs in (e.g. bf16 autocast)."""
    names, penult = list(adapter.layers), adapter.penultimate
    with autocast():
        stats = layer_stats(
            model,
            batches(nc_split, EVAL_BATCH, shuffle=False),
            [*names, penult],
            num_classes,
            reduce=adapter.reduce,
            covariance=names,
        )
    means = {n: s.means() for n, s in stats.items()}  # each (K, D)
    total = {n: stats[n].total_cov() for n in names}  # Sigma_T, each (D, D)
    probes = {n: metrics.ridge_probe(total[n], means[n], stats[n].counts()) for n in names}
    train = ncc_pass(
        model,
        adapter,
        nc_split,
        means,
        autocast,
        num_classes=num_classes,
        activations=dict(adapter.activations),
        probes=probes,
    )
    test_ = ncc_pass(model, adapter, test, means, autocast, num_classes=num_classes, probes=probes)
    W = model.get_submodule(adapter.classifier).weight.detach()  # (K, D)
    layers = {}
    for i, n in enumerate(names):
        m, s = means[n], stats[n]
        Mc = m - m.mean(0, keepdim=True)  # (K, D) centred class means
        rank_m, erank_m = metrics.ranks(Mc)
        rank_c, erank_c = metrics.ranks(total[n], psd=True)  # Sigma_T, (D, D)
        is_classifier = n == adapter.classifier
        layers[n] = LayerMeasures(
            index=i,
            train_ncc_acc=train.ncc_accuracy(n),
            test_ncc_acc=test_.ncc_accuracy(n),
            train_ncc_wrong=train.n - train.ncc_correct[n],
            nc_n=train.n,
            probe_train_acc=train.probe_accuracy(n),
            probe_test_acc=test_.probe_accuracy(n),
            nc1=metrics.safe(metrics.nc1(s.within_cov(), m)),
            nc2_equinorm=metrics.safe(metrics.nc2_equinorm(m)),
            nc2_equiangle=metrics.safe(metrics.nc2_equiangle(m)),
            etf_distance=metrics.safe(metrics.etf_distance(m)),
            nc3=metrics.safe(metrics.nc3_duality(W, means[penult])) if is_classifier else math.nan,
            nc4=train.nc4_disagree / train.n if is_classifier else math.nan,
            cdnv=metrics.safe(metrics.cdnv(s.class_variances(), m)),
            rank_means=rank_m,
            erank_means=metrics.safe(erank_m),
            rank_cov=rank_c,
            erank_cov=metrics.safe(erank_c),
            dead_units=train.dead.get(n, math.nan),
        )
    return Evaluation(test_.loss, test_.acc, test_.counts, layers)

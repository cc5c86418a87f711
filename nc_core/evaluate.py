"""One neural-collapse evaluation of a model: three streaming passes, every layer at once.

1. NC sample of the train set -> per-layer ClassStats (class means, Sigma_W).
2. The same sample -> train NCC accuracy per layer, and NC4 at the classifier.
3. The test set -> test loss and accuracy, test NCC accuracy per layer (train-set means).
Hooks only collect (`LayerTap`); the measures are the pure functions of `nc_core.metrics`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from nc_core import metrics
from nc_core.data import Split, batches
from nc_core.records import LayerRecord
from nc_core.taps import LayerTap, eval_mode, layer_stats

EVAL_BATCH = 2000


def _ncc_pass(
    model: nn.Module, split: Split, means: dict[str, torch.Tensor], penultimate: str, autocast
) -> dict:
    """NCC accuracy of every layer in `means`, loss, accuracy and NC4 over `split`."""
    names = [n for n in means if n != penultimate]
    correct = {n: torch.zeros((), device=split.x.device) for n in names}
    nc4 = torch.zeros((), device=split.x.device)
    loss = torch.zeros((), device=split.x.device)
    hits = torch.zeros((), device=split.x.device)
    reduce = getattr(model, "nc_reduce", None)
    with eval_mode(model), LayerTap(model, [*names, penultimate], reduce=reduce) as tap:
        for x, y in batches(split, EVAL_BATCH, shuffle=False):
            with autocast():
                logits = model(x)  # (B, K)
            for n in names:
                correct[n] += (metrics.ncc_predict(tap.outputs[n].float(), means[n]) == y).sum()
            ncc_penult = metrics.ncc_predict(tap.outputs[penultimate].float(), means[penultimate])
            nc4 += (logits.argmax(1) != ncc_penult).sum()
            loss += F.cross_entropy(logits.float(), y, reduction="sum")
            hits += (logits.argmax(1) == y).sum()
    N = len(split)
    return {
        "ncc": {n: correct[n].item() / N for n in names},
        "nc4": nc4.item() / N,
        "loss": loss.item() / N,
        "acc": hits.item() / N,
    }


def evaluate(
    model: nn.Module, nc_split: Split, test: Split, *, num_classes: int, autocast
) -> tuple[float, float, dict[str, LayerRecord]]:
    """(test_loss, test_acc, {layer: LayerRecord}) for every layer in `model.nc_layers`."""
    names = list(model.nc_layers)
    penult = model.penultimate
    reduce = getattr(model, "nc_reduce", None)
    with autocast():
        stats = layer_stats(
            model,
            batches(nc_split, EVAL_BATCH, shuffle=False),
            [*names, penult],
            num_classes,
            reduce=reduce,
            covariance=names,
        )
    means = {n: s.means() for n, s in stats.items()}  # each (K, D)
    train = _ncc_pass(model, nc_split, means, penult, autocast)
    test_ = _ncc_pass(model, test, means, penult, autocast)
    W = model.get_submodule(model.classifier_name).weight  # (K, D)
    layers = {}
    for i, n in enumerate(names):
        m = means[n]
        is_classifier = n == model.classifier_name
        layers[n] = LayerRecord(
            index=i,
            train_ncc_acc=train["ncc"][n],
            test_ncc_acc=test_["ncc"][n],
            nc1=metrics.safe(metrics.nc1(stats[n].within_cov(), m)),
            nc2_equinorm=metrics.safe(metrics.nc2_equinorm(m)),
            nc2_equiangle=metrics.safe(metrics.nc2_equiangle(m)),
            etf_distance=metrics.safe(metrics.etf_distance(m)),
            nc3=metrics.safe(metrics.nc3_duality(W.detach(), means[penult]))
            if is_classifier
            else math.nan,
            nc4=train["nc4"] if is_classifier else math.nan,
        )
    return test_["loss"], test_["acc"], layers

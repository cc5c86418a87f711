"""The figures of a ViT study (ETF feedforward blocks): NCC and NC1 per block, test accuracy
against blocks fixed, and the trade-off."""

from __future__ import annotations

from ...loading.load import Study
from ..jobs import Job
from ..tradeoff import tradeoff
from ..vit import vit_accuracy, vit_profile


def vit_ffn_jobs(study: Study, eps_arg: float | None) -> list[Job]:
    name = study.name
    return [
        Job(
            f"{name}: NCC and NC1 per block",
            f"{name}_vit_profile",
            "Per-block train and test NCC accuracy and NC1 at the last epoch, for each choice of "
            "fixed feedforward linears; hollow markers are blocks with fixed linears.",
            lambda: vit_profile(study),
        ),
        Job(
            f"{name}: test accuracy against blocks fixed",
            f"{name}_vit_accuracy",
            "Final test accuracy against the number of blocks whose feedforward linears are "
            "fixed, one line per kind and one panel per fc1/fc2/both, beside the baseline band.",
            lambda: vit_accuracy(study),
        ),
        Job(
            f"{name}: test accuracy against trainable parameters",
            f"{name}_tradeoff",
            "Every arm's mean final test accuracy against its trainable parameters, labelled "
            "with its blocks, linears and kind.",
            lambda: tradeoff(study),
        ),
    ]

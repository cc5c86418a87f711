"""The figure sets: what is drawn for a study, by the name its declaration gives
(`StudyType.figures`, stored with the study). Each set is a function (study, eps or None) ->
[Job]; "default" draws any study from its arm keys, "runs" draws tables that are no study."""

from __future__ import annotations

from nc_core.study.declaration import DEFAULT_FIGURES

from .arch_nets import arch_nets_jobs
from .default import default_jobs
from .eps_arms import eps_arms_jobs
from .fix_from import fix_from_jobs
from .runs import run_jobs
from .vit_ffn import vit_ffn_jobs

FIGURE_SETS = {
    DEFAULT_FIGURES: default_jobs,
    "eps_arms": eps_arms_jobs,  # Adaptive-ETF: the baseline and each kind at one eps
    "fix_from": fix_from_jobs,  # StaticETF from each layer, per MLP width and depth
    "vit_ffn": vit_ffn_jobs,  # ViT feedforward linears fixed to ETFs, block by block
    "runs": run_jobs,  # single runs, or a study of baselines only
    "arch_nets": arch_nets_jobs,  # Adaptive-ETF across networks and datasets
}

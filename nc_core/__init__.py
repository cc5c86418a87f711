"""nc_core: neural collapse with simplex-ETF layers (Liu, arXiv 2412.00884).

Modules, one idea each: `etf` (simplex ETFs and fixed layers), `class_stats` (streaming
per-class statistics), `metrics` (NC measures), `taps` (hooks that collect layer outputs), `data`
(splits and batches), `fashion_mnist` (the IDX files), `mlp`, `vit`, `vit_fixing` (which ViT
linears are fixed), `policy` (when to fix a layer), `config` (`RunConfig`), `presets`, `train`,
`evaluate`, `state` (resumable training state), `resume` (may a state continue as a config),
`records` (result tables); studies: `study`, `study_checks`, `study_cli`, `trial`,
`study_results`, `study_tables` (no Ray) and the package `tune` (the only place Ray Tune and
Optuna are imported).
"""

__version__ = "0.1.0"

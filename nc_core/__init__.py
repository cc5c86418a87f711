"""nc_core: neural collapse with simplex-ETF layers (Liu, arXiv 2412.00884).

Modules, one idea each: `etf` (simplex ETFs and fixed layers), `metrics` (streaming class
statistics and NC measures), `taps` (hooks that collect layer outputs), `data`, `mlp`, `vit`,
`policy` (when to fix a layer), `config` (`RunConfig` and presets), `train`, `evaluate`,
`state` (resumable training state), `records` (result tables); studies: `study`, `study_checks`,
`study_cli`, `trial`, `study_results`, `study_tables` (no Ray) and the package `tune` (the only
place Ray Tune and Optuna are imported).
"""

__version__ = "0.1.0"

"""Ray Tune and Optuna behind one small interface: the only place nc_core imports them.

Everything else runs without Ray: a single training run never imports it, and what a study is
(`nc_core.study.spec`), its checks (`nc_core.study.checks`), trials (`nc_core.study.trial`),
results and summaries (`nc_core.study.results`, `nc_core.study.summary`) are Ray-free modules.
This package holds only the calls into Ray and Optuna:

- `run`: `run_study(spec, opts)` runs or resumes a study on Tune, then exports its tables.
- `export`: the tables rebuilt from a study's Tune storage, and what the driver heard from Tune.
- `search`: the parameter space and `TuneConfig` (Optuna's sampler, ASHA).
- `trainable`: the Tune function trainable, one `nc_core.train` run per trial.
- `console`: what Tune prints at each `--verbose` level.
- `local_ray`: starting a local Ray that listens on 127.0.0.1 only.
- `storage`: local storage where every file Tune writes appears whole or not at all.
- `repair`: a checkpoint Tune deleted after its state last reached storage, put back on resume.
"""

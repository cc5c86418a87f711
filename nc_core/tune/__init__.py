"""Ray Tune and Optuna behind one small interface: the only place nc_core imports them.

Everything else runs without Ray: a single training run never imports it, and what a study is
(`nc_core.study.spec`), its checks (`study_checks`), command line (`study_cli`), trials (`trial`),
results (`study_results`) and summaries (`study_tables`) are Ray-free modules. This package
holds only the calls into Ray and Optuna, split because they were one 460-line module:

- `run`: `run_study(spec, opts)` runs or resumes a study on Tune; `export` rebuilds its tables.
- `trainable`: the Tune function trainable, one `nc_core.train.train` run per trial.
- `console`: what Tune prints at each `--verbose` level.
- `local_ray`: starting a local Ray that listens on 127.0.0.1 only.
- `storage`: local storage where every file Tune writes appears whole or not at all.
"""

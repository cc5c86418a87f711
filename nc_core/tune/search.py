"""What Tune searches and how: the parameter space of a study and its `TuneConfig`.

A grid study (`spec.trials`) is one `TRIAL_KEY` grid over its trials' overrides, so that Tune's
config holds only what varies (the base goes to the trainable whole); a search study
(`spec.space`) samples each field from Tune's distributions, proposed by Optuna's multi-objective
TPE (`OptunaSearch`), optionally pruned by ASHA.

Optuna keeps its study in an RDB storage, the SQLite file `<results>/<name>/optuna.db`, under the
study's name, so that Optuna's own tools open it while the study runs and after:

    optuna.load_study(study_name=NAME, storage="sqlite:///results/NAME/optuna.db")
    optuna-dashboard sqlite:///results/NAME/optuna.db
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import optuna
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search.optuna import OptunaSearch

from nc_core.study.spec import StudyOptions, StudySpec
from nc_core.study.trial import TRIAL_KEY

SAMPLERS = {"uniform": tune.uniform, "loguniform": tune.loguniform, "choice": tune.choice}
OPTUNA_FILE = "optuna.db"  # in <results>/<name>/: the Optuna study of a --search optuna study


def optuna_storage(spec: StudySpec, opts: StudyOptions) -> optuna.storages.RDBStorage:
    """The SQLite storage of `spec`'s Optuna study, `<results>/<name>/optuna.db`, emptied of an
    Optuna study of the same name that a study run before this one left (its Tune experiment is
    gone: this is a new study, whose searcher must not learn from the old one's trials)."""
    path = (Path(opts.results) / spec.name / OPTUNA_FILE).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = optuna.storages.RDBStorage(f"sqlite:///{path}")
    if spec.name in {s.study_name for s in optuna.get_all_study_summaries(storage)}:
        optuna.delete_study(study_name=spec.name, storage=storage)
        print(f"study {spec.name}: {path} held an earlier Optuna study of this name; replaced")
    return storage


def param_space(spec: StudySpec) -> dict:
    """What varies between trials, and nothing else (the base goes to `trainable` as `base`)."""
    if spec.trials:
        return {TRIAL_KEY: tune.grid_search([dict(t) for t in spec.trials])}
    return {k: SAMPLERS[d](*args) for k, (d, *args) in spec.space.items()}


def tune_config(
    spec: StudySpec, opts: StudyOptions, name: Callable, dirname: Callable
) -> tune.TuneConfig:
    """Tune's search (Optuna for a search space), scheduler and concurrency for `spec` under
    `opts`; `name` and `dirname` name each trial and its folder."""
    searcher = scheduler = None
    if spec.space:
        metrics, modes = [list(x) for x in zip(*spec.objectives, strict=True)]
        searcher = OptunaSearch(
            metric=metrics if len(metrics) > 1 else metrics[0],
            mode=modes if len(modes) > 1 else modes[0],
            seed=opts.seed,
            study_name=spec.name,
            storage=optuna_storage(spec, opts),
        )
    if opts.scheduler == "asha":
        metric, mode = spec.objectives[0]
        scheduler = ASHAScheduler(
            metric=metric,
            mode=mode,
            max_t=spec.base.epochs,
            grace_period=max(1, spec.base.epochs // 4),
        )
    return tune.TuneConfig(
        search_alg=searcher,
        scheduler=scheduler,
        num_samples=spec.num_samples if spec.space else 1,
        max_concurrent_trials=opts.max_concurrent,
        reuse_actors=True,  # a new trial skips the imports: ~3 s each
        trial_name_creator=name,
        trial_dirname_creator=dirname,
    )

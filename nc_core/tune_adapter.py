"""The old home of the Tune adapter (now `nc_core.tune`), kept for studies stored before the move.

Tune pickles `trial_name_creator` and `trial_dirname_creator` by module and name into every
trial's stored state; a study stored by nc-core 0.1 before the move names them here, and its
`--export-only` or resume unpickles them from this path. Nothing else should import this module.
"""

from nc_core.tune.run import _trial_dirname, _trial_name

__all__ = ["_trial_dirname", "_trial_name"]

"""Starting (or joining) the Ray a study runs on; a local one listens on loopback only."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import ray

from nc_core.data.registry import DATA_DIR_ENV, WORK_DIR_ENV, work_dir
from nc_core.study.spec import StudyOptions

TOKEN_NOTICE_LOGGER = "ray._private.authentication.authentication_token_setup"


def init_ray(opts: StudyOptions) -> bool:
    """Start or join Ray unless this process already did; True when this call started it."""
    if ray.is_initialized():
        return False
    # Trials find their data where the driver checked it, although Tune runs each in its own
    # folder: ./data of the driver's working directory (NC_WORK_DIR, `work_dir`), and the
    # driver's NC_DATA_DIR, made absolute.
    env = {WORK_DIR_ENV: str(work_dir().absolute())}
    if os.environ.get(DATA_DIR_ENV):
        env[DATA_DIR_ENV] = str(Path(os.environ[DATA_DIR_ENV]).absolute())
    runtime_env = {"env_vars": env}
    level = logging.INFO if opts.verbose == 2 else logging.WARNING  # Ray's own INFO lines
    # Ray's notice that the local Ray uses token authentication, its default and the safe
    # setting, is news only at --verbose 2 (a failure to authenticate is an error, still shown)
    logging.getLogger(TOKEN_NOTICE_LOGGER).setLevel(
        logging.NOTSET if opts.verbose == 2 else logging.ERROR
    )
    if opts.local:
        _loopback_only()
        ray.init(
            address="local",
            num_cpus=opts.num_cpus,
            include_dashboard=False,
            runtime_env=runtime_env,
            logging_level=level,
        )
    else:
        ray.init(address=opts.address, runtime_env=runtime_env, logging_level=level)
    return True


def _loopback_only() -> None:
    """Make a local Ray listen on 127.0.0.1 only, not on every interface.

    Ray 2.60 ignores `ray.init(_node_ip_address="127.0.0.1")` (it maps loopback to the node's
    address) and then binds its servers to 0.0.0.0. With its Windows/macOS switch off
    (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0) the node address is 127.0.0.1 and the GCS, raylet,
    object manager and every worker bind loopback alone (checked with `ss -ltnp`, and by
    tests/test_reliability.py). The constant is read when Ray is imported, so this process's
    copy is set too; the processes Ray starts inherit the environment variable."""
    from ray._private import ray_constants

    os.environ[ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR] = "0"
    ray_constants.ENABLE_RAY_CLUSTER = False

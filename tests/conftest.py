"""The device and precision the training tests run on, chosen per session.

`NC_TEST_DEVICE` (cpu, cuda or cuda:N; default cpu) and `NC_TEST_PRECISION` (fp32 or bf16;
default fp32) select them, and the `on_device` fixture applies them to a `RunConfig`:

    NC_TEST_DEVICE=cuda NC_TEST_PRECISION=bf16 python -m pytest -q

Asking for CUDA where torch sees none, or for bf16 without CUDA (bf16 autocast is CUDA only),
stops the session with a message before any test runs: never a silent CPU run. With CUDA
selected, deterministic algorithms are switched on (cuBLAS workspace set for them), so a resumed
run can be compared bit for bit with an uninterrupted one. The tests that need Ray (the Tune
studies and the cluster file) are not collected with CUDA selected, nor where Ray is missing:
they test scheduling, not the device. Those that run studies share one local Ray for the
session, `ray_session`.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile

import pytest
import torch

DEVICE = os.environ.get("NC_TEST_DEVICE", "cpu")
PRECISION = os.environ.get("NC_TEST_PRECISION", "fp32")
NEEDS_RAY = [  # test modules that import Ray (through studies/ or nc_core.tune) when collected
    "test_bad_inputs.py",
    "test_cluster.py",
    "test_studies.py",
    "test_study_cli.py",
    "test_study_failures.py",
    "test_trial.py",
]

collect_ignore = NEEDS_RAY if DEVICE != "cpu" or importlib.util.find_spec("ray") is None else []


def pytest_configure(config):
    if DEVICE != "cpu" and not DEVICE.startswith("cuda"):
        raise pytest.UsageError(f"NC_TEST_DEVICE={DEVICE!r}: expected cpu, cuda or cuda:N")
    if PRECISION not in ("fp32", "bf16"):
        raise pytest.UsageError(f"NC_TEST_PRECISION={PRECISION!r}: expected fp32 or bf16")
    if DEVICE.startswith("cuda") and not torch.cuda.is_available():
        raise pytest.UsageError(
            f"NC_TEST_DEVICE={DEVICE!r}: torch {torch.__version__} sees no CUDA device here; "
            "unset NC_TEST_DEVICE to test on the CPU"
        )
    if PRECISION == "bf16" and DEVICE == "cpu":
        raise pytest.UsageError(
            "NC_TEST_PRECISION='bf16' needs NC_TEST_DEVICE=cuda: bf16 autocast is CUDA only "
            "(RunConfig.precision), so on the CPU it would test fp32 under another name"
        )
    if DEVICE.startswith("cuda"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # inherited by subprocesses
        torch.use_deterministic_algorithms(True, warn_only=True)


def pytest_report_header(config):
    skipped = f"; not collected: {', '.join(collect_ignore)}" if collect_ignore else ""
    return f"nc_core training tests on device={DEVICE}, precision={PRECISION}{skipped}"


@pytest.fixture
def on_device():
    """`on_device(cfg)`: `cfg` on the session's test device and precision."""
    return lambda cfg: cfg.replace(device=DEVICE, precision=PRECISION)


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray of 2 CPUs for the session: `run_study` joins it instead of starting its own
    (the modules that run studies request it for every test)."""
    import ray  # here, not at the top: this file is loaded where Ray is missing too

    temp = tempfile.mkdtemp(prefix="ncray", dir="/tmp")  # short: Ray's socket paths are capped
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=80 * 1024**2,
        _temp_dir=temp,
        log_to_driver=False,
    )
    yield
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)

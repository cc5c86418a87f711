"""The device and precision the training tests run on, chosen per session.

`NC_TEST_DEVICE` (cpu, cuda or cuda:N; default cpu) and `NC_TEST_PRECISION` (fp32 or bf16;
default fp32) select them, and the `on_device` fixture applies them to a `RunConfig`:

    NC_TEST_DEVICE=cuda NC_TEST_PRECISION=bf16 python -m pytest -q

Asking for CUDA where torch sees none, or for bf16 without CUDA (bf16 autocast is CUDA only),
stops the session with a message before any test runs: never a silent CPU run. With CUDA
selected, deterministic algorithms are switched on (cuBLAS workspace set for them), so a resumed
run can be compared bit for bit with an uninterrupted one.

Tests skip by what they need, found when they are collected, not from a list kept by hand: a
test module whose import fails because an optional package is missing (Ray or Optuna, as on a
GPU machine without them; `OPTIONAL`) is reported as skipped, naming the package. Tests that
run studies share one local Ray per test process (`make test` runs two, with pytest-xdist):
`ray_session`, which skips where Ray is absent.
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
# a test module needing one skips without it (jsonschema: installed with Ray, not on every GPU image)
OPTIONAL = ("ray", "optuna", "moto", "tensorboard", "jsonschema")


def missing(name: str) -> bool:
    """Whether the package `name` cannot be imported here."""
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """A module that cannot be imported for want of an optional package is skipped, not failed."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and isinstance(collector, pytest.Module):
        text = str(report.longrepr)
        for name in OPTIONAL:
            if f"No module named '{name}'" in text and missing(name):
                report.outcome = "skipped"
                report.longrepr = (str(collector.path), 0, f"Skipped: needs {name}, not installed")
                break


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
    gone = [n for n in OPTIONAL if missing(n)]
    absent = f"; not installed (their tests skip): {', '.join(gone)}" if gone else ""
    return f"nc_core training tests on device={DEVICE}, precision={PRECISION}{absent}"


@pytest.fixture
def on_device():
    """`on_device(cfg)`: `cfg` on the session's test device and precision."""
    return lambda cfg: cfg.replace(device=DEVICE, precision=PRECISION)


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray of 2 CPUs for the session: `run_study` joins it instead of starting its own
    (the modules that run studies request it for every test)."""
    ray = pytest.importorskip("ray")  # here, not at the top: loaded where Ray is missing too

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

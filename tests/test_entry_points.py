"""The command line's front doors: `python -m nc_core`, `python -m nc_core.train`, and the console
scripts of an installed wheel (studies and analysis inside nc_core, no generic top-level names)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Runs `python -m nc_core.train ARGS` in-process and reports, for every execution of the training
# loop's module body (nc_core/train/loop.py), under which name it ran and whether it got as far as
# defining train().
COUNT_TRAIN_BODIES = """
import runpy, sys
runs = []
def profile(frame, event, arg):
    code = frame.f_code
    loop = code.co_filename.endswith("/train/loop.py")
    if event == "return" and code.co_name == "<module>" and loop:
        runs.append((frame.f_globals["__name__"], "train" in frame.f_globals))
sys.setprofile(profile)
sys.argv = ["nc_core.train", *sys.argv[1:]]
try:
    runpy.run_module("nc_core.train", run_name="__main__", alter_sys=True)
except SystemExit:
    pass
sys.setprofile(None)
print(runs)
"""


def run(*args: str, cwd: Path = REPO, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_python_m_nc_core_train_defines_the_training_code_once():
    tiny = ["--preset", "smoke", "--dataset", "synthetic", "--epochs", "1", "--quiet"]
    out = run("-c", COUNT_TRAIN_BODIES, *tiny)
    assert out.returncode == 0, out.stderr
    runs = eval(out.stdout.strip().splitlines()[-1])
    assert [name for name, defined in runs if defined] == [
        "nc_core.train.loop"
    ]  # not also __main__
    assert run("-m", "nc_core.train", "--help").returncode == 0


def test_no_library_module_imports_a_command_line():
    """The command lines (nc_core/cli/) import the library, never the other way round: only the
    `python -m` entry files hand over to them, so no import circle runs through a CLI."""
    import ast

    entry = {"nc_core/__main__.py", "nc_core/train/__main__.py", "nc_core/collect.py"}
    offenders = []
    for path in sorted((REPO / "nc_core").rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        if rel in entry or rel.startswith("nc_core/cli/"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{rel}: {n}" for n in names if n.startswith("nc_core.cli")]
    assert offenders == []


def test_python_m_nc_core_dispatches_train_study_and_figures():
    top = run("-m", "nc_core", "--help")
    assert top.returncode == 0 and all(c in top.stdout for c in ("train", "study", "figures"))
    assert "--preset" in run("-m", "nc_core", "train", "--help").stdout
    assert "nc-study eps_sweep" in run("-m", "nc_core", "study", "eps_sweep", "--help").stdout
    assert "--results" in run("-m", "nc_core", "figures", "--help").stdout
    unknown = run("-m", "nc_core", "study", "eps_swep")
    assert unknown.returncode == 2 and "eps_swep" in unknown.stderr


def test_nc_study_finds_every_file_of_the_studies_folder_by_its_name():
    listed = run("-m", "nc_core", "study", "--help").stdout
    for path in sorted((REPO / "studies").glob("[!_]*.py")):
        assert path.stem in listed, path.stem
        assert f"nc-study {path.stem}" in run("-m", "nc_core", "study", path.stem, "--help").stdout


def test_wheel_installs_studies_and_analysis_inside_nc_core_with_console_scripts(tmp_path):
    pytest.importorskip("setuptools", reason="builds the wheel with the installed setuptools")
    src = tmp_path / "src"  # a copy: an in-tree build would leave build/ in the repository
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    for name in ("nc_core", "studies", "analysis"):
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(src)]
    subprocess.run(build, check=True, cwd=tmp_path, timeout=300)
    (wheel,) = tmp_path.glob("nc_core-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {
        "nc_core",
        wheel.name.split("-py3")[0] + ".dist-info",
    }
    assert "nc_core/studies/eps_sweep.py" in names and "nc_core/analysis/make_figures.py" in names
    assert any(n.endswith("licenses/LICENSE") for n in names)

    target = tmp_path / "site"
    install = [*pip, "install", "--no-deps", "--target", str(target), str(wheel)]
    subprocess.run(install, check=True, cwd=tmp_path, timeout=300)
    away = tmp_path / "elsewhere"  # no repository on sys.path: only the installed files
    away.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    for script, marker in (("nc-study", "--preset"), ("nc-figures", "--results")):
        args = [str(target / "bin" / script), *(["eps_sweep"] if script == "nc-study" else [])]
        out = subprocess.run(
            [sys.executable, *args, "--help"], cwd=away, env=env, capture_output=True, text=True
        )
        assert out.returncode == 0 and marker in out.stdout, out.stderr
    listed = subprocess.run(
        [sys.executable, str(target / "bin" / "nc-study"), "--help"],
        cwd=away,
        env=env,
        capture_output=True,
        text=True,
    )
    assert all(name in listed.stdout for name in ("eps_sweep", "depth_width", "vit_blocks"))
    where = subprocess.run(
        [sys.executable, "-c", "import nc_core.studies.eps_sweep as m; print(m.__file__)"],
        cwd=away,
        env=env,
        capture_output=True,
        text=True,
    )
    assert where.stdout.strip().startswith(str(target))
    assert (target / "bin" / "nc-train").exists()

# Two entry points (see README): `make study` runs the main job end to end, `make test` the tests.
# Both create what they need (.venv, the package, Fashion-MNIST) and are safe to rerun.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEBIAN_FMNIST := /usr/share/datasets/fashion-mnist
# `make study` options (README "Quick start"): PRESET (smoke, quick, paper), SEEDS, KINDS, NAME,
# and STUDY_ARGS for any further study option, e.g. STUDY_ARGS="--set epochs=1 --eps 0.3" for a
# tiny run. Left empty, SEEDS and KINDS are the study's own defaults, declared once in
# studies/eps_sweep.py (seed 0 below the paper preset, all four kinds), and so is the study's name
# (eps_sweep-PRESET, with a part for other seeds or kinds: eps_sweep-quick-seeds0_1_2):
# `make study` and `python studies/eps_sweep.py` with the same options are the same study.
# RESULTS and FIGURES say where outputs go.
PRESET ?= quick
SEEDS ?=
KINDS ?=
NAME ?=
STUDY_ARGS ?=
RESULTS ?= results
FIGURES ?= figures
STUDY_FLAGS = --preset $(PRESET) $(if $(strip $(SEEDS)),--seeds $(SEEDS)) \
	$(if $(strip $(KINDS)),--kinds $(KINDS)) $(if $(NAME),--name $(NAME)) \
	--storage $(RESULTS)/ray --results $(RESULTS) $(STUDY_ARGS)
FIGURE_FLAGS = --results $(RESULTS) --out $(FIGURES) --storage $(RESULTS)/ray

.PHONY: test study figures data venv lint bench clean distclean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# Fashion-MNIST: Debian's package when we can install it; otherwise nc_core.data.fashion_mnist
# downloads it with torchvision on first use (or reads $$NC_DATA_DIR). Never fatal: tests that
# need the real data skip with a message when it is absent.
data:
	@if [ -d $(DEBIAN_FMNIST) ] || [ -d data/fashion-mnist ] || [ -n "$$NC_DATA_DIR" ]; then \
	  echo "Fashion-MNIST: present"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) \
	    || echo "Fashion-MNIST: apt-get failed; nc_core.data.fashion_mnist will try a download on first use"; \
	else \
	  echo "Fashion-MNIST: not installed; nc_core.data.fashion_mnist will try a download on first use"; \
	fi

# The suite in TEST_WORKERS processes (pytest-xdist), each test file in one of them: most tests
# wait on a subprocess or on Ray more than they compute, so two share two cores well.
TEST_WORKERS ?= 2
test: venv data
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

study: venv data
	$(BIN)/python studies/eps_sweep.py $(STUDY_FLAGS)
	$(BIN)/python analysis/make_figures.py $(FIGURE_FLAGS) \
	  --study "$$($(BIN)/python studies/eps_sweep.py $(STUDY_FLAGS) --print-name)"

figures: venv
	$(BIN)/python analysis/make_figures.py $(FIGURE_FLAGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: venv data
	$(BIN)/python benchmarks/bench_metrics.py
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_tune.py

# clean: what the studies made (results, figures, runs); keeps .venv and the data.
clean:
	rm -rf $(RESULTS) $(FIGURES) runs .pytest_cache

# distclean: everything that is not in git: also .venv, downloaded data and build files.
distclean: clean
	rm -rf $(VENV) data build dist *.egg-info .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

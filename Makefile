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
# tiny run. The study is named eps_sweep-PRESET; other SEEDS or KINDS than the defaults are
# another study, named after them (eps_sweep-quick-seeds0_1_2), unless NAME is given.
# RESULTS and FIGURES say where outputs go.
PRESET ?= quick
# the main job's sweep: every kind (canonical, rotated, orthogonal, freeze), so the controls
# figure has them all; one seed keeps the quick size near an hour on 2 cores (add seeds with SEEDS="0 1 2").
SEEDS_DEFAULT := 0
KINDS_DEFAULT := canonical rotated orthogonal freeze
SEEDS ?= $(SEEDS_DEFAULT)
KINDS ?= $(KINDS_DEFAULT)
NAME ?=
STUDY_ARGS ?=
RESULTS ?= results
FIGURES ?= figures
space := $(subst ,, )
VARIANT :=
ifneq ($(strip $(SEEDS)),$(SEEDS_DEFAULT))
VARIANT := $(VARIANT)-seeds$(subst $(space),_,$(strip $(SEEDS)))
endif
ifneq ($(strip $(KINDS)),$(KINDS_DEFAULT))
VARIANT := $(VARIANT)-$(subst $(space),_,$(strip $(KINDS)))
endif
STUDY_NAME = $(or $(NAME),$(if $(VARIANT),eps_sweep-$(PRESET)$(VARIANT)))
STUDY_FLAGS = --preset $(PRESET) --seeds $(SEEDS) --kinds $(KINDS) \
	$(if $(STUDY_NAME),--name $(STUDY_NAME)) --storage $(RESULTS)/ray --results $(RESULTS) $(STUDY_ARGS)
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
	$(BIN)/python analysis/make_figures.py $(FIGURE_FLAGS) --study $(or $(STUDY_NAME),eps_sweep-$(PRESET))

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

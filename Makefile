# Two entry points (see README): `make study` runs the main job end to end, `make test` the tests.
# Both create what they need (.venv, the package, Fashion-MNIST) and are safe to rerun.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEBIAN_FMNIST := /usr/share/datasets/fashion-mnist
PRESET ?= quick
# the main job's sweep: every kind (canonical, rotated, orthogonal, freeze) so Figure 5 has its controls; one
# seed keeps the quick size near an hour on 2 cores (add seeds with SEEDS="0 1 2").
SEEDS ?= 0

.PHONY: test study figures data venv lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# Fashion-MNIST: Debian's package when we can install it; otherwise nc_core.data downloads it
# with torchvision on first use (or reads $$NC_DATA_DIR). Never fatal: tests that need the real
# data skip with a message when it is absent.
data:
	@if [ -d $(DEBIAN_FMNIST) ] || [ -d data/fashion-mnist ] || [ -n "$$NC_DATA_DIR" ]; then \
	  echo "Fashion-MNIST: present"; \
	elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) \
	    || echo "Fashion-MNIST: apt-get failed; nc_core.data will try a download on first use"; \
	else \
	  echo "Fashion-MNIST: not installed; nc_core.data will try a download on first use"; \
	fi

test: venv data
	$(BIN)/python -m pytest -q

study: venv data
	$(BIN)/python studies/eps_sweep.py --preset $(PRESET) --seeds $(SEEDS) --kinds canonical rotated orthogonal freeze
	$(BIN)/python analysis/make_figures.py --results results --out figures

figures: venv
	$(BIN)/python analysis/make_figures.py --results results --out figures

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: venv data
	$(BIN)/python benchmarks/bench_metrics.py
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_tune.py

clean:
	rm -rf $(VENV) results figures .pytest_cache

# Set-up and the main jobs. `make run` and `make test` install everything they need on first use.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PATH := $(abspath $(VENV))/bin:$(PATH)
# DVC must never try the network (no analytics, no update check).
export DVC_NO_ANALYTICS := 1
# mkdocs-material prints a notice about its successor on every build; the docs build is checked strictly instead.
export NO_MKDOCS_2_WARNING := 1

.PHONY: setup chromium run loop test bench ui docs clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -e ".[dev]"
	# torch and torchvision must be a matching pair, or torchvision fails to import.
	$(PY) -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)"
	touch $(STAMP)

setup: $(STAMP)

# Headless Chromium for the labeling app's browser tests (Debian's package; browser downloads are not used).
chromium:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@chromium --version

run: setup  ## the main job: build the next round with DVC (round 0 first), then open the labeling app on it
	articulate repro
	articulate label

loop: setup  ## rounds unattended: the simulated artist labels each new atlas, then dvc repro (ROUNDS=3)
	articulate loop --rounds $(or $(ROUNDS),3)

test: setup chromium  ## the test suite
	$(PY) -m pytest

bench: setup  ## the benchmarks (print their figures)
	$(PY) bench/bench_train_base.py

ui: setup  ## the MLflow UI on the project's store
	articulate ui

docs: setup  ## the documentation site, built into site/ (`mkdocs serve` previews it)
	$(VENV)/bin/mkdocs build --strict --site-dir site

clean:
	rm -rf data/dataset models activations atlases/round_* evaluation .checkpoints mlflow.db mlartifacts

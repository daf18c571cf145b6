# make run | test | slow | lint | gpu-check — each creates .venv when missing and installs once.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export KERAS_BACKEND := tensorflow
export NO_ALBUMENTATIONS_UPDATE := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: run test slow lint gpu-check install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/kerasnets run recipes/digits_lenet5.yaml

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not gpu"

slow: $(STAMP)
	$(BIN)/python -m pytest -q -m "slow"

lint: $(STAMP)
	$(BIN)/ruff check kerasnets tests benchmarks
	$(BIN)/ruff format --check kerasnets tests benchmarks

gpu-check: $(STAMP)
	$(BIN)/python benchmarks/gpu_check.py

clean:
	rm -rf $(VENV) .pytest_cache

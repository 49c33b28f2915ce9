# roadmark: the commands a user runs. Each target creates .venv when it is missing and reuses it
# when present; it reinstalls only when pyproject.toml changed since the last install.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.roadmark-installed
export ROADMARK_HOME ?= $(CURDIR)/.roadmark
export DAGSTER_HOME ?= $(ROADMARK_HOME)/dagster
export YOLO_OFFLINE := 1
export YOLO_AUTOINSTALL := false
export LATEST_VERSION_CHECK := false
export ORT_DISABLE_TELEMETRY := 1
DEV_PORT ?= 3000
PYTEST_ARGS ?=

.PHONY: demo test dev lint format install clean-state

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml

## demo: the main job on the real clips, start to finish, then where to look
demo: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/roadmark demo

## test: lint and the whole test suite (GPU/Jetson tests are deselected: no such hardware here)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -m "not gpu and not jetson" $(PYTEST_ARGS)

## dev: the Dagster UI on 127.0.0.1:$(DEV_PORT)
dev: $(STAMP) $(DAGSTER_HOME)/dagster.yaml
	env --default-signal=INT,TERM $(BIN)/dagster dev -h 127.0.0.1 -p $(DEV_PORT) -w workspace.yaml

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## clean-state: stop the local Label Studio and remove .roadmark (lake, instance, devices)
clean-state: $(STAMP)
	-$(BIN)/roadmark labelstudio stop
	rm -rf $(ROADMARK_HOME)

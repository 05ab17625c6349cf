# The README's two commands: `make smoke` (the main job on the embedded
# target) and `make test` (the whole test suite on real peers).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: smoke test install debian-packages

$(BIN)/callproof: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(BIN)/callproof

smoke: install
	$(BIN)/callproof run scenarios/smoke.yaml

debian-packages:
	bash .ci/debian-packages

test: debian-packages install
	$(BIN)/python -m pytest

# The README's two commands: `make smoke` (the main job on the embedded
# target) and `make test` (the whole test suite on real peers); `make unit` is
# the fast layer to run while editing.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: smoke test unit typecheck install debian-packages engine

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

# pjsua2 built from pjproject source (docs/engine.md); cached per machine.
engine: debian-packages install
	$(BIN)/callproof engine build

# Everything that starts no peer, no pjsua2 engine and no `callproof run` (tests/markers.py):
# the fast layer, under a minute. Some of it reads real tools (tshark, ssh-keygen, poppler).
UNIT := not peers and not sip_engine and not e2e
unit: install
	$(BIN)/python -m pytest -m "$(UNIT)"

# mypy over the packages as callproof.* through a tree of links (build/typecheck): the editable
# install maps harness/, sip/, ... with an import hook that type checkers cannot follow.
TYPECHECK := build/typecheck
PARTS := harness sip rtp_analysis reports scenarios
TYPECHECK_RUN := mkdir -p $(TYPECHECK)/callproof && \
	for part in $(PARTS); do ln -sfn ../../../$$part $(TYPECHECK)/callproof/$$part; done && \
	MYPYPATH=$(TYPECHECK) $(BIN)/mypy -p callproof.harness -p callproof.sip -p callproof.rtp_analysis -p callproof.reports
typecheck: install
	$(TYPECHECK_RUN)

# The unit layer loads no pjsua2 and measures no time, so it runs while the engine
# builds and mypy checks (its report follows theirs). Then the live layers in two
# passes: on the PyPI wheel, then the SIP engine tests again on the built engine.
# CALLPROOF_ENGINE is read when the interpreter starts (sip/engine/install.py), so
# it also reaches every worker process. Where pjsua2-python has no wheel for the
# Python (3.13, Debian 13's), the built engine is the only pjsua2: one pass of the
# live layers on it. (The two live passes side by side starved each other's timing
# tests: tried on 2026-12-07.)
LIVE := peers or sip_engine or e2e
test: debian-packages install
	mkdir -p build
	$(BIN)/python -m pytest -m "$(UNIT)" > build/unit.log 2>&1 & unit=$$!; \
	{ $(BIN)/callproof engine build && $(TYPECHECK_RUN); }; built=$$?; \
	wait $$unit; unit=$$?; cat build/unit.log; \
	[ $$built -eq 0 ] && [ $$unit -eq 0 ]
	if $(BIN)/python -c 'import importlib.metadata as m; m.version("pjsua2-python")' 2>/dev/null; then \
		CALLPROOF_ENGINE=wheel $(BIN)/python -m pytest -m "$(LIVE)" && \
		CALLPROOF_ENGINE=built $(BIN)/python -m pytest -m sip_engine; \
	else \
		CALLPROOF_ENGINE=built $(BIN)/python -m pytest -m "$(LIVE)"; \
	fi

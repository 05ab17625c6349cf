# The README's two commands: `make smoke` (the main job on the embedded
# target) and `make test` (the whole test suite on real peers); `make unit` is
# the fast layer to run while editing.
VENV ?= .venv
# The tests start hundreds of Python processes (engines, `callproof run`): they keep compiled
# bytecode (__pycache__, which git ignores) rather than compile every module again each time
# (make unit: 59 s with PYTHONDONTWRITEBYTECODE set, 53 s without, on 2 idle cores).
unexport PYTHONDONTWRITEBYTECODE
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: smoke test unit unit-durations typecheck install debian-packages engine

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
# Two pytest processes side by side, one per core, in groups that pytest-split balances by
# the times recorded in tests/unit-durations.json (`make unit-durations` records them again;
# a test not in it counts as an average one). pytest-xdist cannot run these: Locust's gevent
# monkey-patching breaks its worker threads.
UNIT := not peers and not sip_engine and not e2e
UNIT_DURATIONS := tests/unit-durations.json
UNIT_GROUP := $(BIN)/python -m pytest -m "$(UNIT)" --splits 2 --durations-path $(UNIT_DURATIONS) --group
unit: install
	mkdir -p build
	$(UNIT_GROUP) 2 > build/unit-2.log 2>&1 & second=$$!; \
	$(UNIT_GROUP) 1; first=$$?; \
	wait $$second; second=$$?; echo "--- the second group:"; cat build/unit-2.log; \
	[ $$first -eq 0 ] && [ $$second -eq 0 ]

unit-durations: install
	$(BIN)/python -m pytest -m "$(UNIT)" --store-durations --durations-path $(UNIT_DURATIONS)

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
# passes side by side: on the PyPI wheel, and the SIP engine tests again on the built
# engine (its report follows the wheel's); the live tests whose outcome does not depend
# on the engine (any_engine) run once, in the built engine's pass, which has fewer tests.
# A heavy test has the machine to itself, the other tests of both passes share it
# (tests/conftest.py). CALLPROOF_ENGINE is read when the interpreter starts
# (sip/engine/install.py), so it also reaches every worker process. Where pjsua2-python
# has no wheel for the Python (3.13, Debian 13's), the built engine is the only pjsua2:
# one pass of the live layers.
LIVE := peers or sip_engine or e2e
test: debian-packages install
	mkdir -p build
	$(BIN)/python -m pytest -m "$(UNIT)" > build/unit.log 2>&1 & unit=$$!; \
	{ $(BIN)/callproof engine build && $(TYPECHECK_RUN); }; built=$$?; \
	wait $$unit; unit=$$?; cat build/unit.log; \
	[ $$built -eq 0 ] && [ $$unit -eq 0 ]
	if $(BIN)/python -c 'import importlib.metadata as m; m.version("pjsua2-python")' 2>/dev/null; then \
		CALLPROOF_ENGINE=built $(BIN)/python -m pytest -m "sip_engine or (any_engine and ($(LIVE)))" > build/built.log 2>&1 & built=$$!; \
		CALLPROOF_ENGINE=wheel $(BIN)/python -m pytest -m "($(LIVE)) and not any_engine"; wheel=$$?; \
		wait $$built; built=$$?; echo "--- the built engine's pass:"; cat build/built.log; \
		[ $$wheel -eq 0 ] && [ $$built -eq 0 ]; \
	else \
		CALLPROOF_ENGINE=built $(BIN)/python -m pytest -m "$(LIVE)"; \
	fi

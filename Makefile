# The two commands of the README: `make run` and `make test`. Both set up everything they need.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install run test test-unit test-sip test-browser test-faults down clean docs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## run: Kafka + PostgreSQL + the five services + the seed's story on a demo base (Ctrl-C stops all)
run: $(STAMP)
	$(BIN)/switchboard dev up --demo

## test: unit, component, integration, end-to-end and SIP tests (starts its own Kafka,
##       PostgreSQL and Kamailio; installs Kamailio and SIPp from Debian's packages when missing)
test: $(STAMP)
	bash tools/install-sip.sh
	bash tools/install-browser.sh
	$(BIN)/python -m pytest

test-unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit tests/component

## test-sip: only the real-PBX tests (Kamailio routing SIPp calls)
test-sip: $(STAMP)
	bash tools/install-sip.sh
	$(BIN)/python -m pytest -m sip tests/sip

## test-browser: only the browser tests (Playwright driving Debian's Chromium)
test-browser: $(STAMP)
	bash tools/install-browser.sh
	$(BIN)/python -m pytest -m browser tests/browser

## test-faults: the slow crash tests
test-faults: $(STAMP)
	$(BIN)/python -m pytest -m faults -s tests/faults

down: $(STAMP)
	$(BIN)/switchboard dev down

## docs: docs/asyncapi.yaml, the event contract of every topic, generated from the code and
##       checked with the reference AsyncAPI parser (tools/asyncapi, needs node and npm)
docs: $(STAMP)
	$(BIN)/faststream docs gen switchboard.contract:app --yaml --out docs/asyncapi.yaml
	@if command -v node >/dev/null 2>&1; then \
		cd tools/asyncapi && { [ -d node_modules ] || npm ci --no-audit --no-fund --ignore-scripts; } \
		&& node validate.mjs ../../docs/asyncapi.yaml; \
	else echo "node not found: docs/asyncapi.yaml generated, not validated"; fi

clean:
	rm -rf $(VENV) .switchboard

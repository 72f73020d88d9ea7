# MSA Astrometry Workbook — the two commands a new machine needs:
#   make demo   install into .venv and run notebooks 00→05 headless on the offline demo field
#   make test   install into .venv and run the test suite (what CI runs)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXTRAS ?= lab,test

.PHONY: install demo test test-fast test-browser lab bench clean-workspace strip-notebooks

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m helpers.chain --demo

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not notebooks"

# notebook 04 in headless Chromium (Debian: apt-get install chromium); playwright drives the
# system browser (no `playwright install`); skips with a message when either is missing
test-browser: $(STAMP)
	$(BIN)/python -c "import playwright" 2>/dev/null || $(BIN)/python -m pip install --quiet -e ".[browser]"
	WORKBOOK_BROWSER=1 $(BIN)/python -m pytest -rs -s tests/test_browser.py

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

strip-notebooks: $(STAMP)
	$(BIN)/python -m helpers.chain --strip

clean-workspace:
	rm -rf workspace/

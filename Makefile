# qnn_lite — read the book, run the tests, run the benchmarks.
# Every target creates .venv (Python 3 + pip) and installs the package if missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
JOBS ?= 2
# Tests run JOBS workers side by side, so BLAS gets one thread each (and results repeat exactly).
TEST_ENV := QNN_LITE_QUIET=1 MPLBACKEND=Agg OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: lab test test-fast bench exercises notebooks clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab book/00_index.ipynb

# The whole suite: unit + property tests, nbval over the book, exercise checks.
test: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest -n $(JOBS) --dist loadfile tests book --nbval-lax --nbval-current-env --nbval-cell-timeout=300

# Unit tests only, no notebooks.
test-fast: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest -n $(JOBS) tests

bench: $(STAMP)
	@for f in bench/[!_]*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

exercises: $(STAMP)
	$(PY) -m exercises build

# Restart & Run All every chapter, saving outputs (commit them).
notebooks: $(STAMP)
	$(PY) tools/run_notebooks.py

clean:
	rm -rf $(VENV) build *.egg-info

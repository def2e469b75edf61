# qnn_lite — read the book, run the tests, run the benchmarks.
# Every target creates .venv and installs the pinned environment (requirements-lock.txt,
# Python 3.11) plus the package itself, when missing or when the lock changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# What `lab` and `test-browser` need installed first (the browser test empties it to reuse
# the interpreter it runs in).
INSTALL ?= $(STAMP)
LOCK := requirements-lock.txt
LOCK_PYTHON := 3.11
JOBS ?= 2
# Tests run JOBS workers side by side, so BLAS gets one thread each (and results repeat exactly).
TEST_ENV := QNN_LITE_QUIET=1 MPLBACKEND=Agg OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
# `make lab LAB_ARGS="--port 9999 --no-browser"`; root (the default user in containers) needs --allow-root.
LAB_ARGS ?=
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

.PHONY: lab test test-fast test-min test-browser html bench exercises notebooks upgrade-lock clean

# The lock is for Python $(LOCK_PYTHON); another Python gets the newest versions allowed by
# pyproject.toml instead (and a warning: the book's checked numbers may then differ).
$(STAMP): pyproject.toml $(LOCK)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	if $(PY) -c 'import sys; sys.exit(f"{sys.version_info[0]}.{sys.version_info[1]}" != "$(LOCK_PYTHON)")'; then \
	  $(PY) -m pip install --quiet -r $(LOCK) && $(PY) -m pip install --quiet --no-deps -e . ; \
	else \
	  echo "warning: $(LOCK) is for Python $(LOCK_PYTHON); installing unpinned versions" >&2; \
	  $(PY) -m pip install --quiet -e ".[dev,browser,html]" ; \
	fi
	touch $(STAMP)

# JupyterLab rooted at the repository (so book/ and exercises/ are both reachable), opening the index;
# PYTHONPATH lets the exercise notebooks import the grader (`exercises` is not installed).
lab: $(INSTALL)
	PYTHONPATH=$(CURDIR) $(VENV)/bin/jupyter lab --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/book/00_index.ipynb $(ROOT_FLAG) $(LAB_ARGS)

# The whole suite: unit + property tests, nbval over the book, exercise checks.
test: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest -n $(JOBS) --dist loadfile tests book --nbval-lax --nbval-current-env --nbval-cell-timeout=300

# Unit tests only, no notebooks.
test-fast: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest -n $(JOBS) tests

# The book in headless Chromium through `make lab` (needs Debian's chromium and playwright).
test-browser: $(INSTALL)
	$(TEST_ENV) QNN_LITE_BROWSER_REQUIRED=1 $(PY) -m pytest -m browser tests/test_browser_lab.py

# The unit tests against the LOWEST versions pyproject.toml allows (requirements-min.txt),
# in a separate venv, so that the declared minimums stay true.
MIN_VENV := .venv-min
$(MIN_VENV)/.installed: requirements-min.txt
	test -x $(MIN_VENV)/bin/python || $(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MIN_VENV)/bin/python -m pip install --quiet -r requirements-min.txt
	$(MIN_VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $@

test-min: $(MIN_VENV)/.installed
	$(MIN_VENV)/bin/python -c 'import numpy, numba, matplotlib, sklearn; print("minimum versions:", "numpy", numpy.__version__, "numba", numba.__version__, "matplotlib", matplotlib.__version__, "scikit-learn", sklearn.__version__)'
	$(TEST_ENV) $(MIN_VENV)/bin/python -m pytest -n $(JOBS) tests

# A static HTML edition from the committed notebooks (not re-executed): build/html/index.html.
html: $(STAMP)
	$(PY) tools/build_html.py build/html

bench: $(STAMP)
	@for f in bench/[!_]*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

exercises: $(STAMP)
	$(PY) -m exercises build

# Restart & Run All every chapter, saving outputs (commit them).
notebooks: $(STAMP)
	$(PY) tools/run_notebooks.py

# Re-resolve the newest versions pyproject.toml allows into $(LOCK) (in a scratch venv),
# reinstall .venv from it and re-run every chapter; review `git diff book/` and run `make test`.
upgrade-lock:
	rm -rf $(VENV)-lock
	$(PYTHON) -m venv $(VENV)-lock
	$(VENV)-lock/bin/python -c 'import sys; v = "%d.%d" % sys.version_info[:2]; sys.exit(v != "$(LOCK_PYTHON)" and f"the lock is for Python $(LOCK_PYTHON), not {v}: make upgrade-lock PYTHON=python$(LOCK_PYTHON)")'
	$(VENV)-lock/bin/python -m pip install --quiet --upgrade pip
	$(VENV)-lock/bin/python -m pip install --quiet ".[dev,browser,html]"
	{ sed -n '/^#/p' $(LOCK); $(VENV)-lock/bin/python -m pip freeze --exclude-editable | grep -iv '^qnn[-_]lite'; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)
	rm -rf $(VENV)-lock
	$(MAKE) notebooks

clean:
	rm -rf $(VENV) $(MIN_VENV) build *.egg-info

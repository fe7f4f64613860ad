# Two commands: `make lab` (set up, open the teaching kit) and `make test` (set up, run every test).
# Set-up is incremental: system tools (scripts/setup_system.sh installs missing Debian packages),
# the lab's packages (.venv/.lab-stamp), the test tools on top (.venv/.installed-stamp), and the
# JavaScript client for its tests (tests/js/node_modules).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LAB_STAMP := $(VENV)/.lab-stamp
STAMP := $(VENV)/.installed-stamp
JS_STAMP := tests/js/node_modules/.installed-stamp
SYSTEM := PYTHON=$(PYTHON) scripts/setup_system.sh
# The next client generation, for the contract tests only (the kit stays on 1.x): its own venv,
# this package installed without its `replicate` pin, its other dependencies from pyproject.toml.
CLIENT2X := replicate==2.0.0b4
VENV2X := .venv-2x
STAMP2X := $(VENV2X)/.installed-stamp

.PHONY: lab test lint bench notebooks exercises clean system-lab system-test

system-lab:
	@$(SYSTEM) lab

system-test:
	@$(SYSTEM) test

$(LAB_STAMP): pyproject.toml | system-lab
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[lab]"
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	$(VENV)/bin/jupyter labextension disable --level=sys_prefix \
		"@jupyterlab/apputils-extension:announcements" >/dev/null 2>&1
	touch $(LAB_STAMP)

$(STAMP): $(LAB_STAMP) | system-test
	$(PY) -m pip install --quiet -e ".[lab,test]"
	touch $(STAMP)

$(STAMP2X): pyproject.toml Makefile | system-lab
	$(PYTHON) -m venv $(VENV2X)
	$(VENV2X)/bin/python -m pip install --quiet --upgrade pip
	$(VENV2X)/bin/python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(d for d in deps if not d.startswith('replicate')))" > $(VENV2X)/requirements.txt
	$(VENV2X)/bin/python -m pip install --quiet --pre "$(CLIENT2X)" pytest -r $(VENV2X)/requirements.txt
	$(VENV2X)/bin/python -m pip install --quiet --no-deps -e .
	touch $(STAMP2X)

$(JS_STAMP): tests/js/package.json tests/js/package-lock.json | system-test
	cd tests/js && npm ci --no-audit --no-fund --silent
	touch $(JS_STAMP)

ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

LAB_FLAGS ?=

lab: $(LAB_STAMP)
	$(VENV)/bin/jupyter lab --ServerApp.ip=127.0.0.1 $(ROOT_FLAG) $(LAB_FLAGS) notebooks/

NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg --nbval-cell-timeout 120
KIT := notebooks/[0-9]*.ipynb notebooks/solutions

test: system-test $(STAMP) $(JS_STAMP) $(STAMP2X)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest
	$(VENV2X)/bin/python -m pytest --confcutdir=tests/client2x tests/client2x
	$(PY) -m pytest $(NBVAL) -o addopts="--strict-markers -p no:cacheprovider" $(KIT)

# The stored outputs, as committed: nbval checks them against a fresh run in `make test`.
notebooks: $(LAB_STAMP)
	$(VENV)/bin/jupyter nbconvert --to html --output-dir build/notebooks notebooks/[0-9]*.ipynb
	$(VENV)/bin/jupyter nbconvert --to html --output-dir build/notebooks/solutions \
		notebooks/solutions/*.ipynb
	$(VENV)/bin/jupyter nbconvert --to html --output-dir build/notebooks/exercises \
		notebooks/exercises/*.ipynb

exercises: $(LAB_STAMP)
	$(PY) scripts/make_exercises.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: $(LAB_STAMP)
	$(PY) benchmarks/sandbox.py

clean:
	rm -rf $(VENV) $(VENV2X) build tests/js/node_modules

# The two set-up commands of the README. Both create .venv on first use and install from the lock files:
# requirements.lock (what `metablina report` runs on) and requirements-test.lock (that set plus the test tools).
# `make lock` refreshes both from the version ranges in setup.cfg and pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Build the editable install with the locked setuptools already in the venv, so no unpinned package is fetched.
PROJECT := $(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .

.PHONY: report test lint lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: $(BIN)/python requirements.lock setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(PROJECT)
	touch $@

$(VENV)/.installed-test: $(BIN)/python requirements-test.lock setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-test.lock
	$(PROJECT)
	touch $@

report: $(VENV)/.installed-run
	$(BIN)/metablina report --studies studies --out outputs

test: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# Resolve the newest versions setup.cfg allows, with hashes, for Python 3.11 and later on any platform.
# The test lock is resolved within the runtime lock, so both install the same version of every shared package.
LOCK := $(BIN)/uv pip compile --quiet --generate-hashes --universal --python-version 3.11 \
	--custom-compile-command "make lock"
BUILD_REQUIREMENTS := $(VENV)/build-requirements.in

lock: $(BIN)/python
	$(BIN)/python -m pip install --quiet 'uv>=0.13'
	$(BIN)/python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires'], sep='\n')" > $(BUILD_REQUIREMENTS)
	$(LOCK) setup.cfg $(BUILD_REQUIREMENTS) -o requirements.lock
	$(LOCK) setup.cfg $(BUILD_REQUIREMENTS) --extra test -c requirements.lock -o requirements-test.lock

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache

# polymodal: `make demo` and `make test` work on a fresh machine; both run `make setup` first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test test-fast bench clean

setup: $(STAMP)

# Re-install only when the project's metadata changes; torch is pinned to the CPU wheel on disk.
$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check "torch==2.13.0"
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[all,dev]"
	@touch $(STAMP)

demo: setup
	$(PY) -m polymodal.demo

test: setup
	$(PY) -m pytest -q -n 2 --dist loadfile

test-fast: setup
	$(PY) -m pytest -q -n 2 --dist loadfile -m "not slow"

bench: setup
	@for script in benchmarks/[!_]*.py; do echo "== $$script"; $(PY) $$script --quick || exit 1; done

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache

# Two commands: `make run` serves the dashboard (with a demo stack), `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test venv check

$(VENV)/.installed: requirements.txt requirements-dev.txt
	bash scripts/ensure_venv.sh $(PYTHON) $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

run: venv
ifdef CONFIG
	$(PY) app.py --config $(CONFIG)
else
	$(PY) -m stack.run
endif

# Debian packages come from stack/packages.txt: its "test" set here, stack.run its "demo" set.
test: venv
	bash scripts/ensure_packages.sh --set test
	$(PY) -m ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

check: venv
	$(PY) app.py check $(if $(CONFIG),--config $(CONFIG))

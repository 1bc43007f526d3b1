# Two commands: `make run` serves the dashboard (with a demo stack), `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Debian packages the tests start for real (stack.run installs the demo stack's own).
TEST_DEBS := prometheus prometheus-node-exporter prometheus-alertmanager redis-server nginx \
             victoria-metrics chromium chromium-driver

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

test: venv
	bash scripts/ensure_packages.sh $(TEST_DEBS)
	$(PY) -m ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

check: venv
	$(PY) app.py check $(if $(CONFIG),--config $(CONFIG))

# Two commands: `make run` serves the dashboard (with a demo stack), `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Debian packages the tests start for real, and the ones the demo stack needs.
TEST_DEBS := prometheus prometheus-node-exporter prometheus-alertmanager redis-server nginx \
             victoria-metrics chromium chromium-driver
RUN_DEBS := prometheus prometheus-node-exporter prometheus-alertmanager redis-server nginx

.PHONY: run test lint venv check

$(VENV)/.installed: requirements.txt requirements-dev.txt
	bash scripts/ensure_venv.sh $(PYTHON) $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

run: venv
ifdef CONFIG
	$(PY) app.py --config $(CONFIG)
else
	bash scripts/ensure_packages.sh $(RUN_DEBS)
	$(PY) -m stack.run
endif

test: venv
	bash scripts/ensure_packages.sh $(TEST_DEBS)
	$(PY) -m ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

check: venv
	$(PY) app.py check $(if $(CONFIG),--config $(CONFIG))

# Two commands for a newcomer: `make run` and `make test`. Everything else is for contributors.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: run test lint format migrate clean browser-deps

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

## run: install, migrate, seed the demo and start web server, the lanes (transactional, bulk, webhooks) and the mail catcher
run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py run_local

## test: the whole suite (SQLite unless DATABASE_URL is set; Redis broker if REDIS_URL is set)
test: $(STAMP) browser-deps
	$(PY) -m ruff check .
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

clean:
	rm -rf $(VENV) var/test.sqlite3* .pytest_cache .ruff_cache

# Browser tests drive Debian's headless chromium through its chromedriver.
browser-deps:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing chromium and chromium-driver for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; \
	  else \
	    echo "Browser tests need chromium and chromedriver: sudo apt-get install chromium chromium-driver"; \
	    exit 1; \
	  fi; \
	fi

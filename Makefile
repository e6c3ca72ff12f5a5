# initiatives — two commands do everything on a fresh machine:
#   make run    virtualenv, install, migrate, demo data, serve on http://127.0.0.1:5000
#   make test   install what tests need (Python packages, Chromium, poppler) and run all tests

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app initiatives
HOST   ?= 127.0.0.1
PORT   ?= 5000
# Mail links point at the server `make run` starts, unless BASE_URL says otherwise.
DEV    = APP_ENV=development BASE_URL=$(or $(BASE_URL),http://$(HOST):$(PORT))
CATALOGS := initiatives/translations

.PHONY: install install-test translations extract-messages check-translations run worker test \
        lint format \
        system-packages bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(VENV)/.installed translations

install-test: $(VENV)/.installed-test translations

# Compiled catalogs (.mo) are build products, never committed.
translations: $(VENV)/.installed
	@if ls $(CATALOGS)/*/LC_MESSAGES/messages.po >/dev/null 2>&1; then \
	  $(BIN)/pybabel compile --statistics -d $(CATALOGS) 2>&1 | grep -v '^compiling' || true; \
	fi

# After changing strings in code or templates: refresh the catalogs, then translate what
# check-translations lists.  Locations without line numbers keep diffs (and merges) small;
# a `{# Translators: ... #}` or `# Translators: ...` comment before a string reaches the
# translator.
extract-messages: $(VENV)/.installed
	$(BIN)/pybabel extract -F initiatives/babel.cfg -k _l -k lazy_gettext --sort-by-file \
	  --add-location=file --add-comments=Translators: \
	  --project initiatives -o $(CATALOGS)/messages.pot .
	$(BIN)/pybabel update -i $(CATALOGS)/messages.pot -d $(CATALOGS) --ignore-obsolete

# Untranslated, fuzzy, missing or broken strings in every catalog (exit 1 if any).
check-translations: $(VENV)/.installed
	$(BIN)/python -m initiatives.catalogs

run: install
	$(DEV) $(FLASK) db upgrade
	$(DEV) $(FLASK) demo
	@echo ""
	@echo "  Site:     http://$(HOST):$(PORT)/i/amiralsgatan"
	@echo "  Mailbox:  http://$(HOST):$(PORT)/dev/mail/   (mail written to instance/mail/)"
	@echo ""
	@$(DEV) $(FLASK) outbox work & worker=$$!; \
	  trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	  $(DEV) $(FLASK) run --host $(HOST) --port $(PORT)

worker: install
	$(DEV) $(FLASK) outbox work

# Browser tests need Chromium, PDF tests need poppler-utils (Debian packages).  As root we
# install them; otherwise we say what to install (tests then skip locally, fail in CI).
system-packages:
	@missing=""; \
	  [ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	  command -v pdftoppm >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	  if [ -n "$$missing" ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      echo "Installing Debian packages:$$missing"; \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	    else \
	      echo "*** Missing system packages:$$missing"; \
	      echo "*** Install them with: sudo apt-get install$$missing"; \
	      echo "*** (browser and PDF tests skip without them locally; in CI they fail)"; \
	    fi; \
	  fi

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Tests run in parallel, one process per core (at most four: each may start a Chromium,
# gunicorn instances and PostgreSQL connections).  PYTEST_WORKERS=0 runs them in one.
PYTEST_WORKERS ?= auto

test: install-test system-packages
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n $(PYTEST_WORKERS) --maxprocesses 4 $(PYTEST_ARGS)

bench: install-test
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache tests/artifacts

# The two commands: `make run` and `make test`. Python 3.11, 3.12 or 3.13 is all a fresh machine needs:
# the newest on the PATH is used, or the one you name (`make run PYTHON=/opt/python3.12/bin/python3`).
# `make run ADDR=127.0.0.1:8080` serves on another address.
ADDR ?= 127.0.0.1:8000
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOGS := $(or $(ACCESSBRIDGE_DATA_DIR),data)/logs

# Expanded only when a venv is made. A candidate counts only if it runs: pyenv puts shims on the PATH
# for versions that are installed but not selected, and those fail when called.
PYTHON ?= $(firstword $(foreach p,python3.13 python3.12 python3.11,$(shell $(p) -c '' >/dev/null 2>&1 && echo $(p))))

.PHONY: run demo test lint migrate check bench clean

$(PY):
	@py='$(PYTHON)'; \
	if [ -z "$$py" ]; then \
	  echo "No Python found: AccessBridge needs python3.13, python3.12 or python3.11 on the PATH (none of them runs here)." >&2; \
	  echo "Install one (e.g. apt-get install python3.12-venv), or name one: make $(or $(MAKECMDGOALS),run) PYTHON=/path/to/python3" >&2; \
	  exit 1; \
	fi; \
	if ! "$$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then \
	  echo "$$py is $$("$$py" --version 2>&1 || echo 'not runnable'); AccessBridge needs Python 3.11 or newer." >&2; \
	  exit 1; \
	fi; \
	echo "Using $$py ($$("$$py" --version 2>&1)) for $(VENV)"; \
	rm -rf $(VENV) && "$$py" -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	@mkdir -p $(LOGS)
	@printf '%s' "Installing AccessBridge and its dependencies into $(VENV) (log: $(LOGS)/install.log) ... "
	@{ $(PY) -m pip install --upgrade pip && $(PY) -m pip install -e '.[test]'; } >$(LOGS)/install.log 2>&1 \
	  || { echo "failed:"; tail -n 15 $(LOGS)/install.log; echo "The whole log: $(LOGS)/install.log"; exit 1; } >&2
	@echo "done."
	@touch $(STAMP)

migrate: $(STAMP)
	$(PY) manage.py migrate --noinput

# Migrates, makes a local admin on the first run, then serves the web app and a task worker.
run: $(STAMP)
	@$(PY) manage.py run_local --addr $(ADDR)

# The Cobot and SmartLock stand-ins, a demo space, webhooks and doors opening: see README.
demo: $(STAMP)
	@$(PY) -m tests.fakes.demo --addr $(ADDR)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

check: $(STAMP)
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) manage.py check

bench: $(STAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) .venv-* data staticfiles

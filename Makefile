# The README's two first commands: `make quickstart` and `make test`. Both set up .venv when needed.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev
BSTAMP := $(VENV)/.installed-bench
# The CPU wheel on this machine's disk is taken only for this exact pin. A venv that already has a
# torch in the supported range (a CUDA build, say) keeps it: see tools/setup_venv.sh.
TORCH  ?= torch==2.13.0

.PHONY: quickstart test check-export check-clean check-readme nbtest nbtest-slow pytest sysdeps bench lab export readme venv help

help:
	@echo "make quickstart  - set up .venv and run the main job on the synthetic market"
	@echo "make test        - set up and run every check and test (what CI runs)"
	@echo "make bench       - install the bench extra and run the benchmarks in bench/"
	@echo "make lab         - start JupyterLab on nbs/"

venv: $(STAMP)
$(STAMP): settings.ini setup.py
	TORCH='$(TORCH)' EXTRAS=dev bash tools/setup_venv.sh $(VENV)
	touch $(STAMP)

$(BSTAMP): $(STAMP)
	TORCH='$(TORCH)' EXTRAS=dev,bench bash tools/setup_venv.sh $(VENV)
	touch $(BSTAMP)

quickstart: $(STAMP)
	$(PY) -m ai_trading_framework.quickstart

sysdeps:
	bash tools/install_sysdeps.sh

# CI order: export in sync, notebooks clean, notebook tests, then pytest. Stops at the first failure.
test: $(STAMP) sysdeps check-export check-clean check-readme nbtest nbtest-slow pytest

check-export: $(STAMP)
	@before=$$( (git status --porcelain -- ai_trading_framework; git diff -- ai_trading_framework) | md5sum); \
	$(BIN)/nbdev_export; \
	after=$$( (git status --porcelain -- ai_trading_framework; git diff -- ai_trading_framework) | md5sum); \
	if [ "$$before" != "$$after" ]; then git status --porcelain -- ai_trading_framework; \
	  echo "FAIL: nbdev_export changed ai_trading_framework/: export the notebooks and commit the package"; exit 1; fi; \
	echo "ok: package in sync with notebooks"

check-clean: $(STAMP)
	@before=$$( (git status --porcelain -- nbs; git diff -- nbs) | md5sum); \
	$(BIN)/nbdev_clean; \
	after=$$( (git status --porcelain -- nbs; git diff -- nbs) | md5sum); \
	if [ "$$before" != "$$after" ]; then git status --porcelain -- nbs; \
	  echo "FAIL: nbdev_clean changed notebooks: run nbdev_clean and commit"; exit 1; fi; \
	echo "ok: notebooks clean"

check-readme:
	python3 tools/make_readme.py --check

readme:
	python3 tools/make_readme.py

nbtest: $(STAMP)
	$(BIN)/nbdev_test
	@echo "ok: nbdev_test"

# the cells flagged `#| slow` (real training runs, worker processes): about 20 s more on 2 cores
nbtest-slow: $(STAMP)
	$(BIN)/nbdev_test --flags slow
	@echo "ok: nbdev_test --flags slow"

pytest: $(STAMP)
	$(BIN)/python -m pytest tests/ -p no:cacheprovider

bench: $(BSTAMP)
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b; done

# JupyterLab on nbs/ (the interactive backtest widgets run here); --allow-root only where we are root (CI, containers)
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=nbs --no-browser --ip=127.0.0.1 $$([ "$$(id -u)" = 0 ] && echo --allow-root)

export: $(STAMP)
	$(BIN)/nbdev_clean && $(BIN)/nbdev_export && python3 tools/make_readme.py

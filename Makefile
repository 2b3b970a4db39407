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
# The venv first on PATH in every recipe: whatever a tool runs by name (nbdev's fallbacks run `pip install -e`,
# tests run `python`) is the venv's, never the system's.
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: quickstart test check-export check-clean check-readme check-memory-bank memory-bank check-docs check-wheel nbtest nbtest-slow nbtest-net pytest sysdeps bench lab export readme venv help docs

help:
	@echo "make quickstart  - set up .venv and run the main job on the synthetic market"
	@echo "make test        - set up and run every check and test (what CI runs)"
	@echo "make check-docs  - every notebook goes through nbdev's docs processing (no cell mixes imports with code)"
	@echo "make check-wheel - build the sdist and wheel, install the wheel in a throwaway venv, import every module"
	@echo "make nbtest-net  - run the #| net cells (they need the internet: npm registry, ...); not part of make test"
	@echo "make docs        - build the docs site offline into _docs/ (view: python3 -m http.server -d _docs)"
	@echo "make memory-bank - regenerate memory-bank/ (after the quickstart and the tests: its run pages read MLflow and .reports/)"
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

# CI order: export in sync, notebooks clean, docs processing, notebook tests, pytest, then the wheel as users get it.
# Stops at the first failure. Tests run in a fresh temporary folder (TMPDIR, ATF_CACHE_DIR), removed afterwards:
# see tools/with_tmp.sh. Where the venv's torch sees CUDA the #| gpu cells and the gpu-marked tests run too; the
# output says which way it went.
test: DOCS_FLAGS = --check
test: $(STAMP) sysdeps check-export check-clean check-readme check-memory-bank check-docs nbtest nbtest-slow docs pytest check-wheel

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

# memory-bank/ is generated (ai_trading_framework.memory_bank), never edited by hand. Its code pages (brief, system
# patterns, tech context, models, decision log, progress) must match the code: CI fails on a stale one. Its run pages
# (experiments, test results) read the MLflow store (mlruns.db here) and the JUnit reports in .reports/, and are dated.
check-memory-bank: $(STAMP)
	$(BIN)/atf_memory_bank --pages code --check

memory-bank: $(STAMP)
	$(BIN)/atf_memory_bank --pages all

# nbdev's docs processing of every notebook (what nbdev_proc_nbs runs, without its Quarto installer), in memory
check-docs: $(STAMP)
	bash tools/with_tmp.sh $(PY) tools/check_docs.py

# The docs site, offline (the Quarto site is CI's deploy.yml): nbs/ -> _proc/ (nbdev's processors) -> _docs/.
# `make docs` rewrites a stale nbs/sidebar.yml (commit it); under `make test` a stale one fails (--check).
docs: $(STAMP)
	$(PY) tools/build_docs.py $(DOCS_FLAGS)

# the #| gpu cells join in where CUDA is present (tools/nbtest.sh says so either way)
nbtest: $(STAMP)
	VENV=$(VENV) bash tools/nbtest.sh
	@echo "ok: nbdev_test"

# the cells flagged `#| slow` (real training runs, worker processes): about 20 s more on 2 cores
nbtest-slow: $(STAMP)
	VENV=$(VENV) bash tools/nbtest.sh slow
	@echo "ok: nbdev_test --flags slow"

# the cells flagged `#| net` need the internet (the npm registry, ...): run them by hand or on a connected CI
nbtest-net: $(STAMP)
	@nbs=$$(grep -l '"#| net' nbs/*.ipynb || true); \
	if [ -z "$$nbs" ]; then echo "no #| net cells"; exit 0; fi; \
	for nb in $$nbs; do echo "== $$nb"; bash tools/with_tmp.sh $(BIN)/nbdev_test --path $$nb --flags net; done

# tests/conftest.py skips the gpu-marked tests, saying so, where CUDA is absent
pytest: $(STAMP)
	bash tools/with_tmp.sh $(PY) -m pytest tests/ -p no:cacheprovider --junitxml=.reports/pytest.xml

# the package as users install it: sdist, wheel from the sdist, installed in a throwaway venv, every module imported
check-wheel: $(STAMP)
	$(PY) tools/check_wheel.py

bench: $(BSTAMP)
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b; done

# JupyterLab on nbs/ (the interactive backtest widgets run here); --allow-root only where we are root (CI, containers)
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=nbs --no-browser --ip=127.0.0.1 $$([ "$$(id -u)" = 0 ] && echo --allow-root)

export: $(STAMP)
	$(BIN)/nbdev_clean && $(BIN)/nbdev_export && python3 tools/make_readme.py && $(PY) tools/build_docs.py --sidebar

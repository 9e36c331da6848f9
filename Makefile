# resem3d — one entry point for setting up, testing, demoing and benchmarking.
#   make test    create .venv (Python 3.11) if missing, install every package, run pytest
#   make demo    run the main job: resem3d run on a lab task, oracle answers over local HTTP
#   make bench   run every benchmark and print its JSON
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
VPY := $(VENV)/bin/python
# Python packages of the workspace, in dependency order.
PACKAGES := src/resem3d_constraints src/resem3d_controller src/resem3d_sim src/resem3d_perception src/resem3d_reasoning src/resem3d
STAMP := $(VENV)/.installed
# dash (pulled in by open3d) registers a pytest plugin the workspace does not use.
PYTEST_ARGS ?= -q -p no:dash

.PHONY: test demo bench venv system-deps clean

venv: $(STAMP)

$(VENV)/bin/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "resem3d needs Python 3.11, found " + sys.version.split()[0]'
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip

$(STAMP): $(VENV)/bin/python requirements/constraints.txt requirements/apt.txt $(foreach p,$(PACKAGES),$(p)/setup.py)
	@$(MAKE) --no-print-directory system-deps
	$(VPY) -m pip install --quiet -c requirements/constraints.txt $(foreach p,$(PACKAGES),-e $(p)[test])
	@touch $@

# System packages from requirements/apt.txt; apt runs only when one is missing.
system-deps:
	@missing=$$(for p in $$(grep -v '^\s*#' requirements/apt.txt); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages: $$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

test: $(STAMP)
	$(VPY) -m pytest $(PYTEST_ARGS) $(PACKAGES)

demo: $(STAMP)
	$(VPY) -m resem3d.demo

# The closed-loop sweep (12 tasks x BENCH_SEEDS seeds, with and without disturbances) takes
# about an hour on 2 cores; it rewrites the README's tables and docs/bench/*.json.
BENCH_SEEDS ?= 10
BENCH_JOBS ?= 2

bench: $(STAMP)
	$(VPY) -m resem3d_controller.bench --json
	$(VPY) -m resem3d_sim.bench --json
	$(VPY) -m resem3d_perception.bench --json
	$(VENV)/bin/resem3d bench --seeds $(BENCH_SEEDS) --jobs $(BENCH_JOBS) --out runs/bench \
	  --json-out docs/bench/closed_loop.json --readme README.md
	$(VENV)/bin/resem3d bench --seeds $(BENCH_SEEDS) --jobs $(BENCH_JOBS) --disturb \
	  --out runs/bench-disturb --json-out docs/bench/closed_loop_disturb.json --readme README.md

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

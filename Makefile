# The two commands a newcomer types:  `make run`  (demo workflow)  and  `make test`  (test suite).
# Both create/update .venv idempotently: the install step reruns only when a pin file changes.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CORES ?= all
# Debian packages as package:command. Speech for the demo; a headless browser for the report test; a C compiler
# for the FRDist kernel; ffmpeg for the submission videos; and, for the tests only, munge + SLURM for the one-node cluster test.
APT_RUN := espeak-ng:espeak-ng chromium:chromium gcc:gcc ffmpeg:ffmpeg
APT_TEST := munge:munged slurmctld:slurmctld slurmd:slurmd slurm-client:sbatch

.PHONY: run test deps system-deps test-system-deps clean-results

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	# torchaudio: only its pure-Python parts are used; its wheel's CUDA-built libraries would fail to load
	# beside the CPU torch (mafrg.torchaudio_import then imports it without them), so they are removed.
	find $(VENV)/lib -path '*site-packages/torchaudio/lib/*.so*' -delete
	@touch $(STAMP)

deps: system-deps $(STAMP)

# Debian packages: installed when absent and possible (root + apt); the workflow falls back without them
# (without espeak-ng the demo uses its procedural voice; without gcc FRDist uses its slower numba kernel;
# without SLURM the cluster test is skipped, saying so).
define apt_install
	@missing=""; for pc in $(1); do c=$${pc#*:}; command -v $$c >/dev/null || [ -x /usr/sbin/$$c ] || missing="$$missing $${pc%%:*}"; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null 2>&1)) \
	      || echo "warning: could not install$$missing"; \
	  else echo "note:$$missing not installed (needs root + apt)"; fi; \
	fi
endef

system-deps:
	$(call apt_install,$(APT_RUN))

test-system-deps:
	$(call apt_install,$(APT_TEST))

run: deps
	$(BIN)/snakemake --profile profiles/local --cores $(CORES) --configfile config.yaml
	@echo; echo "Report: $$(pwd)/results/report/report.html (open it in a browser; tables also in results/report/README.md)"

test: deps test-system-deps
	$(BIN)/python -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

clean-results:
	rm -rf results .snakemake

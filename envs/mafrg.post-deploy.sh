#!/usr/bin/env bash
# Run by Snakemake once, inside the conda env it has just created from envs/mafrg.yaml
# (--software-deployment-method conda). Snakemake clears PYTHONPATH for conda jobs, so the env itself must hold
# the workflow's own package: installed editable, jobs import the checkout's src/mafrg (MAFRG_WORKFLOW_DIR is
# set by workflow/rules/common.smk to the Snakefile's folder). torchaudio's CUDA-built libraries are removed, as
# the Makefile does (mafrg uses only its pure-Python parts).
set -euo pipefail
: "${MAFRG_WORKFLOW_DIR:?not set: run through the workflow, which sets it to the checkout holding src/mafrg}"
python -m pip install --quiet --no-deps -e "$MAFRG_WORKFLOW_DIR"
find "${CONDA_PREFIX:?}"/lib -path '*site-packages/torchaudio/lib/*.so*' -delete

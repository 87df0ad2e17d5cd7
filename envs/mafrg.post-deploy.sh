#!/usr/bin/env bash
# Run by Snakemake once, inside the conda env it has just created from envs/mafrg.yaml
# (--software-deployment-method conda). Snakemake clears PYTHONPATH for conda jobs, so the env itself must hold:
#  1. the workflow's own package, editable: jobs import the checkout's src/mafrg (MAFRG_WORKFLOW_DIR is set by
#     workflow/rules/common.smk to the Snakefile's folder);
#  2. torchaudio's pure-Python parts (kaldi MFCC, mel filter banks): its PyPI wheels carry CUDA-built libraries
#     that fail to load beside a CPU torch, so they go (the Makefile does the same).
set -euo pipefail
: "${MAFRG_WORKFLOW_DIR:?not set: run through the workflow, which sets it to the checkout holding src/mafrg}"
python -m pip install --quiet --no-deps -e "$MAFRG_WORKFLOW_DIR"
python -m pip install --quiet --no-deps torchaudio==2.11.0
find "${CONDA_PREFIX:?}"/lib -path '*site-packages/torchaudio/lib/*.so*' -delete

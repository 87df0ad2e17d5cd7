"""Provenance stamped on every artefact: config hash, code version, package versions.

A number in a report is only worth something if one can tell which code, settings and data made it.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

import mafrg
from mafrg.codehash import PACKAGE_ROOT, package_hash

# Every installed package whose version can change a number mafrg writes (tests/test_envs.py: each runtime
# dependency is here), plus the workflow engine and the tests' reference metric.
TRACKED_PACKAGES: tuple[str, ...] = (
    "numpy", "scipy", "pandas", "pyarrow", "dask", "numba", "scikit-learn", "tslearn", "snakemake",
    "opencv-python-headless", "decord", "soundfile", "pillow", "matplotlib", "torch", "torchaudio", "transformers",
    "diffusers", "pyyaml", "jsonschema", "tqdm",
)


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def config_hash(cfg: Any) -> str:
    """Stable short hash of a (JSON-able) configuration: key order and whitespace do not matter."""
    return hashlib.sha256(canonical_json(cfg).encode()).hexdigest()[:16]


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@lru_cache(maxsize=1)
def code_version() -> str:
    """git describe of the checkout when there is one, else the package version; plus the source hash."""
    desc = None
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=PACKAGE_ROOT, capture_output=True, text=True, timeout=10,
        )
        if out.returncode == 0:
            desc = out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return f"{desc or 'v' + mafrg.__version__}+src.{package_hash()}"


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "mafrg": mafrg.__version__}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def provenance(cfg: Any = None, **extra: Any) -> dict[str, Any]:
    """The provenance block written next to (or inside) every artefact."""
    block: dict[str, Any] = {
        "code_version": code_version(),
        "packages": package_versions(),
    }
    if cfg is not None:
        block["config_hash"] = config_hash(cfg)
        block["config"] = cfg
    block.update(extra)
    return block

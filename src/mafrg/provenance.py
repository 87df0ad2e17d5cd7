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
from typing import Any, Iterable

import mafrg

PACKAGE_ROOT = Path(mafrg.__file__).resolve().parent
TRACKED_PACKAGES: tuple[str, ...] = (
    "numpy", "scipy", "pandas", "pyarrow", "numba", "tslearn", "snakemake",
    "opencv-python-headless", "decord", "soundfile", "torch", "transformers", "diffusers",
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


def code_hash(modules: Iterable[str] | None = None) -> str:
    """Hash of the source files of the given mafrg sub-modules (all of mafrg when None). An entry ending in
    ``.json`` is a data file by its path inside the package (``"methods/reactdiffk/priors.json"``): a module
    entry covers its ``.py`` file only, so data a module reads must be named too.

    Snakemake only notices edits to a rule's own script; rules pass this as a param so that an edit to the
    mafrg code they call makes them rerun.
    """
    h = hashlib.sha256()
    if modules is None:
        files = sorted([*PACKAGE_ROOT.rglob("*.py"), *PACKAGE_ROOT.rglob("*.c")])
    else:
        files = []
        for mod in modules:
            if mod.endswith(".json"):
                files.append(PACKAGE_ROOT / mod)
                continue
            p = PACKAGE_ROOT / mod.replace(".", "/")
            if p.is_dir():
                files.extend(sorted([*p.rglob("*.py"), *p.rglob("*.c"), *p.rglob("*.json")]))  # .c: kernels; .json: data
            else:
                files.append(p.with_suffix(".py"))
        files = sorted(set(files))
    for f in files:
        h.update(str(f.relative_to(PACKAGE_ROOT)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


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
    return f"{desc or 'v' + mafrg.__version__}+src.{code_hash()}"


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

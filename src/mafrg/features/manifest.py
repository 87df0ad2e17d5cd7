"""A split's feature manifest: which feature files exist, their frame counts and extractor identities.

Training depends on the *training* manifest only, so extracting new val/test clips never retrains; the report
reads the manifests to say, visibly, when features come from untrained networks.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mafrg.atomic import write_json
from mafrg.features.parquet import read_meta
from mafrg.provenance import file_sha256, provenance

log = logging.getLogger(__name__)


def session_files(records: list[str]) -> list[str]:
    """The feature file paths the given session records list (each written by one extraction job)."""
    import json

    out = []
    for rec in records:
        for sh in json.loads(Path(rec).read_text())["files"]:
            if not Path(sh["path"]).is_file():  # its contents are read (and checked) by build_manifest
                raise ValueError(f"{sh['path']}: feature file listed by {rec} is missing from disk; "
                                 f"delete {rec} to re-extract its session (what is still valid is reused)")
            out.append(sh["path"])
    return out


def build_manifest(split: str, feature_paths: list[str], out: str | Path) -> dict[str, Any]:
    files = []
    identities: dict[str, set[str]] = {}
    dims: dict[str, int] = {}
    untrained: set[str] = set()
    for p in sorted(feature_paths):
        meta = read_meta(p)
        if meta is None:
            raise ValueError(f"{p}: not a mafrg feature file")
        files.append({"path": str(p), "clip": meta["clip"], "person": meta["person"], "frames": meta["frames"],
                       "sha256": file_sha256(p)})
        for s, info in meta["streams"].items():
            identities.setdefault(s, set()).add(info["identity"])
            dims[s] = info["dim"]
        untrained.update(meta.get("untrained", []))
    streams = {s: {"dim": dims[s], "identities": sorted(ids)} for s, ids in identities.items()}
    for s, info in streams.items():
        if len(info["identities"]) > 1:
            log.warning("split %s: stream %s comes from %d different extractors", split, s, len(info["identities"]))
    manifest = {
        "split": split, "files": files, "streams": streams, "untrained": sorted(untrained),
        "frames": sum(x["frames"] for x in files), "provenance": provenance(),
    }
    write_json(out, manifest)
    if untrained:
        log.warning("split %s: features of %s come from UNTRAINED networks", split, sorted(untrained))
    return manifest

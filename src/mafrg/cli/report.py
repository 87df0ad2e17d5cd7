"""The report: tables per split (CSV, Markdown), the HTML page and provenance."""

from __future__ import annotations

import argparse
import json


def cmd_report(a: argparse.Namespace) -> None:
    from mafrg.report import build_report, load_showcase

    cfg = json.loads(a.config_json) if a.config_json else None
    build_report(a.metrics, a.out_dir, config=cfg, config_files=a.config, dataset_root=a.root,
                 neighbours=a.neighbours_meta, features=a.features_manifests, losses=a.losses,
                 split_files=a.split_metrics,
                 showcase=load_showcase(a.showcase_data, a.showcase_pred,
                                        fps=((cfg or {}).get("dataset") or {}).get("fps", 25)))


def add_parsers(sub) -> None:
    s = sub.add_parser("report", help="tables (CSV, Markdown) with provenance from metrics JSON files")
    s.add_argument("--metrics", nargs="+", required=True, help="split-level metrics JSONs (mafrg aggregate)")
    s.add_argument("--out-dir", required=True, help="the report folder")
    s.add_argument("--config", nargs="*", default=[],
                   help="the workflow config files, in merge order (provenance: path and sha256 of each)")
    s.add_argument("--config-json", help="the effective workflow config as JSON (preferred over --config)")
    s.add_argument("--root", help="dataset root (for its manifest)")
    s.add_argument("--neighbours-meta", nargs="*", default=[], help="the neighbour matrices' JSONs (provenance)")
    s.add_argument("--features-manifests", nargs="*", default=[], help="the feature manifests (provenance)")
    s.add_argument("--losses", nargs="*", default=[], help="training loss CSVs to plot")
    s.add_argument("--split-metrics", nargs="*", default=[], help="split metrics JSONs (mafrg evaluate-split)")
    s.add_argument("--showcase-data", help="assembled split whose first rows the HTML report shows")
    s.add_argument("--showcase-pred", help="a prediction shard of that split (traces and rendered GIFs)")
    s.set_defaults(func=cmd_report)

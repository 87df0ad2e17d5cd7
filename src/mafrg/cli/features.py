"""Feature extraction: a session's clips into their Parquet feature files (one per clip and person), and a split's manifest."""

from __future__ import annotations

import argparse
import logging

from mafrg.cli.common import settings

log = logging.getLogger("mafrg")


def cmd_extract(a: argparse.Namespace) -> None:
    from mafrg.config import DatasetConfig
    from mafrg.data.layouts import get_layout
    from mafrg.features.config import FeatureConfig
    from mafrg.features.extract import extract_session

    dcfg = DatasetConfig.parse(settings(a.dataset))
    layout = get_layout(dcfg, a.root)
    # Read here, not passed by the rule: a rule parameter computed from the split would depend on a
    # checkpoint, which Snakemake refuses in cluster jobs.
    rels = layout.sessions(a.split).get(a.session, [])
    done = extract_session(layout, a.split, a.session, rels, a.results, a.out,
                           FeatureConfig.from_dict(settings(a.features)), dcfg)
    for res in done:
        log.info("feature file %s: computed %s, reused %s, seconds %s", res.path, res.computed, res.reused,
                 {k: round(v, 2) for k, v in res.seconds.items()})


def cmd_features_manifest(a: argparse.Namespace) -> None:
    from mafrg.features.manifest import build_manifest, session_files

    build_manifest(a.split, session_files(a.records), a.out)


def add_parsers(sub) -> None:
    s = sub.add_parser("extract", help="extract every feature stream of a session's clips into their Parquet feature files "
                                       "(results/features/<split>/<rel>.parquet), then write the job's record")
    s.add_argument("--root", required=True, help="dataset root")
    s.add_argument("--split", required=True, help="the split")
    s.add_argument("--session", required=True, help="<site>/<session>: every clip of it the split file references")
    s.add_argument("--results", required=True, help="the results folder (feature files go to its features/<split>/)")
    s.add_argument("--features", help="JSON of the features config section")
    s.add_argument("--dataset", help="JSON of the dataset config section")
    s.add_argument("--out", required=True, help="the job's record (JSON)")
    s.set_defaults(func=cmd_extract)

    s = sub.add_parser("features-manifest", help="summarise a split's feature files (frozen list for training)")
    s.add_argument("--split", required=True, help="the split")
    s.add_argument("--records", nargs="*", default=[], help="the split's session records (mafrg extract --out)")
    s.add_argument("--out", required=True, help="the manifest (JSON)")
    s.set_defaults(func=cmd_features_manifest)

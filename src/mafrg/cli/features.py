"""Feature extraction: one (clip, person) into its Parquet shard, and a split's manifest."""

from __future__ import annotations

import argparse
import logging

from mafrg.cli.common import settings

log = logging.getLogger("mafrg")


def cmd_extract(a: argparse.Namespace) -> None:
    from mafrg.config import DatasetConfig, from_dict
    from mafrg.features.config import FeatureConfig
    from mafrg.features.extract import extract_shard

    res = extract_shard(a.root, a.split, a.rel, a.out, FeatureConfig.from_dict(settings(a.features)),
                        from_dict(DatasetConfig, settings(a.dataset)))
    log.info("shard %s: computed %s, reused %s, seconds %s", res.path, res.computed, res.reused,
             {k: round(v, 2) for k, v in res.seconds.items()})


def cmd_features_manifest(a: argparse.Namespace) -> None:
    from mafrg.features.manifest import build_manifest

    build_manifest(a.split, a.shards, a.out)


def add_parsers(sub) -> None:
    s = sub.add_parser("extract", help="extract every feature stream of one (clip, person) into its Parquet shard")
    s.add_argument("--root", required=True)
    s.add_argument("--split", required=True)
    s.add_argument("--rel", required=True, help="<site>/<session>/<person>/<clip> as in the split file")
    s.add_argument("--features", help="JSON of the features config section")
    s.add_argument("--dataset", help="JSON of the dataset config section")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_extract)

    s = sub.add_parser("features-manifest", help="summarise a split's feature shards (frozen list for training)")
    s.add_argument("--split", required=True)
    s.add_argument("--shards", nargs="*", default=[])
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_features_manifest)

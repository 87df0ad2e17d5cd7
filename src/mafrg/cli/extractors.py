"""``mafrg extractors check``: load a face feature extractor's weights and report what it is."""

from __future__ import annotations

import argparse
import json


def cmd_check(a: argparse.Namespace) -> None:
    from mafrg.features.check import check

    ck = a.weights[0] if len(a.weights) == 1 else a.weights
    rep = check(a.stream, ck, preprocess=a.preprocess, pool=a.pool, variant=a.variant, network=a.network,
                batch=a.batch, threads=a.threads)
    if a.json:
        print(json.dumps(rep.__dict__, indent=2))
    else:
        print("\n".join(rep.lines()))


def add_parsers(sub) -> None:
    s = sub.add_parser("extractors", help="face feature extractors (ELIM, ME-GraphAU, ResMaskNet, HSEmotion): check a weights file")
    ssub = s.add_subparsers(dest="extractors_command", required=True)
    c = ssub.add_parser("check", help="load a weights file; report its format, parameter count, output size on a "
                                      "test image and the time per frame on this machine")
    c.add_argument("--stream", required=True, choices=["va", "au", "fe"], help="which face stream the weights are for")
    c.add_argument("--weights", required=True, nargs="+",
                   help="a file; for va also ELIM's enc/reg/header files or their folder")
    c.add_argument("--preprocess", default="reactdiff", choices=["reactdiff", "native"],
                   help="the crop and normalisation (as features.<stream>.preprocess)")
    c.add_argument("--network", choices=["resmasknet", "hsemotion"],
                   help="fe: the network the file must hold (as features.fe.network); default: whichever it holds")
    c.add_argument("--pool", default="max", choices=["avg", "max"], help="fe: global pooling of the head")
    c.add_argument("--variant", default="tf", choices=["tf", "torch"], help="fe: timm tf_efficientnet or efficientnet")
    c.add_argument("--batch", type=int, default=8, help="frames per timed call")
    c.add_argument("--threads", type=int, default=2, help="torch threads")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.set_defaults(func=cmd_check)

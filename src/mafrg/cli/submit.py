"""Challenge submissions: ``submit`` packs a method's reactions, ``check-submission`` reads a package back."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def cmd_submit(a: argparse.Namespace) -> None:
    from mafrg import methods
    from mafrg.cli.common import dataset_section
    from mafrg.data.assemble import load_split
    from mafrg.paths import Paths
    from mafrg.submission.pack import PackOptions, pack
    from mafrg.submission.values import ValueRules

    m = methods.get(a.method)
    dataset = dataset_section(a)
    paths = Paths(results=a.results, root=a.root)
    data = load_split(paths.split_data(a.split))
    videos = [] if a.no_videos else a.videos
    opts = PackOptions(format=a.format, rules=ValueRules(binarize=not a.no_binarize, threshold=a.threshold),
                       videos=videos, video_reactions=a.video_reactions, archive=a.archive)
    appropriate = json.loads(Path(a.appropriate).read_text()) if a.appropriate else None
    man = pack(a.out, m, a.variant, data, a.results, dataset, a.seed, opts, shards=a.shards, appropriate=appropriate)
    print(json.dumps({"package": a.out, "method": man["method"], "variants": sorted(man["variants"]),
                      "rows": man["rows"], "files": len(man["files"])}))


def cmd_check(a: argparse.Namespace) -> None:
    from mafrg.submission.check import check_package, evaluate_package, format_tables

    data = None
    if a.data:
        from mafrg.data.assemble import load_split

        data = load_split(a.data)
    rep = check_package(a.package, [r.speaker for r in data.rows] if data else None, a.split or (data.split if data else None),
                        a.n_predictions)
    for p in rep.problems:
        print(f"problem: {p}", file=sys.stderr)
    summary = {"package": a.package, "ok": rep.ok, "problems": len(rep.problems),
               "variants": {v: {"split": c.split, "rows": len(c.clips)} for v, c in rep.variants.items()}}
    if data is not None and a.neighbours:
        from mafrg.io import load_npy

        scores = evaluate_package(rep, data, load_npy(a.neighbours), a.protocol, a.threads, a.gt_alignment, a.fps)
        summary["metrics"] = scores
        if scores:
            print(format_tables(scores))
    if a.out:
        from mafrg.atomic import write_json

        write_json(a.out, summary | {"problem_list": rep.problems})
    print(json.dumps({k: v for k, v in summary.items() if k != "metrics"}))
    if not rep.ok:
        raise SystemExit(1)


def add_parsers(sub) -> None:
    s = sub.add_parser("submit", help="pack a method's reactions as a REACT challenge submission")
    s.add_argument("--method", required=True, help="the method whose reactions are packed")
    s.add_argument("--variant", nargs="+", help="variants to pack (default: all of the method's)")
    s.add_argument("--split", default="test", help="the split packed")
    s.add_argument("--seed", type=int, default=0, help="which training run's reactions")
    s.add_argument("--results", default="results", help="the workflow's results folder")
    s.add_argument("--root", required=True, help="dataset root (speaker videos and audio for the renders)")
    s.add_argument("--out", required=True, help="package directory (manifest.json at its top)")
    s.add_argument("--format", choices=("npy", "pth"), default="npy",
                   help="result files: numpy arrays, or the official baseline's torch files")
    s.add_argument("--no-binarize", action="store_true", help="keep AU probabilities (default: binarise)")
    s.add_argument("--threshold", type=float, default=0.5, help="AU binarisation threshold")
    s.add_argument("--videos", nargs="*", metavar="CLIP",
                   help="speaker clips to render (default: the organisers' four when present, else the first four rows)")
    s.add_argument("--no-videos", action="store_true", help="render no videos")
    s.add_argument("--video-reactions", type=int, default=3, help="reactions side by side in each video")
    s.add_argument("--dataset", help="JSON of the dataset section (layout, fps of the videos); default: REACT 2024")
    s.add_argument("--appropriate", help="the split's appropriate sets (results/neighbours/<split>.json): the "
                                         "ground truths written to results.pt for clips of any length")
    s.add_argument("--archive", choices=("none", "zip", "tar.gz"), default="none", help="also pack the package as one file")
    s.add_argument("--shards", nargs="+", help="prediction shard names (default: the shards found, which must tile the split)")
    s.set_defaults(func=cmd_submit)

    c = sub.add_parser("check-submission", help="check a submission package (and evaluate it with --data and --neighbours)")
    c.add_argument("package")
    c.add_argument("--data", help="the assembled split (results/data/<split>.npz): expected rows and ground truth")
    c.add_argument("--neighbours", help="the split's appropriate-reaction matrix: evaluate the package")
    c.add_argument("--split", help="default: the manifest's, or the only split in the package")
    c.add_argument("--n-predictions", type=int, help="results per clip (default: the manifest's, else 10)")
    c.add_argument("--protocol", default="react2024", choices=("react2024", "react2025", "corrected"),
                   help="as for mafrg evaluate (react2025: clips of any length)")
    c.add_argument("--gt-alignment", default="resample", choices=("resample", "prefix"),
                   help="clips of any length: as for mafrg evaluate-shard")
    c.add_argument("--fps", type=int, default=30, help="clips of any length: the data's frame rate (corrected FRSyn)")
    c.add_argument("--threads", type=int, default=None, help="threads of the evaluation (default: all cores)")
    c.add_argument("--out", help="write the check (and metrics) as JSON")
    c.set_defaults(func=cmd_check)

"""Registered methods: list them, train a stage, generate a row shard of reactions."""

from __future__ import annotations

import argparse

import logging

import yaml

from mafrg.cli.common import dataset_section, rows, settings, torch_threads

log = logging.getLogger("mafrg")


def cmd_methods(a: argparse.Namespace) -> None:
    from mafrg import methods
    from mafrg.methods.contract import to_jsonable
    from mafrg.methods.settings import resolve_config

    if a.show:
        m = methods.get(a.show)
        cfg = resolve_config(m, a.preset, settings(a.set))
        print(f"# {m.name} (preset {a.preset or m.default_preset}): {m.description}")
        print(yaml.safe_dump(to_jsonable(cfg), sort_keys=False), end="")
        return
    width = max(len(m.name) for m in methods.registered())
    for m in methods.registered():
        vs = ", ".join(f"{v.name}{' (causal)' if v.causal else ''}" for v in m.variants)
        stages = " -> ".join(s.name for s in m.stages) or "none"
        print(f"{m.name:<{width}} variants: {vs:<30} stages: {stages:<14} presets: {', '.join(sorted(m.presets))}")
        if m.description:
            print(f"{'':<{width}} {m.description}")


def _paths(a: argparse.Namespace):
    from mafrg.paths import Paths

    return Paths(results=a.results, root=a.root)


def method_code_hash(m) -> str:
    """Code hash of a method's trained models and reactions: the import closure (:mod:`mafrg.codehash`) of its module
    (for a plugin outside mafrg, its file) and of the two commands below that train and generate. The workflow
    reruns its rules when it changes, and training's resume identity holds it."""
    import inspect
    from pathlib import Path

    from mafrg.codehash import code_hash

    mod = type(m).__module__
    own = mod if mod.startswith("mafrg.") else Path(inspect.getsourcefile(type(m)) or "")
    return code_hash([own, f"{__name__}:cmd_train", f"{__name__}:cmd_generate"])


def cmd_train(a: argparse.Namespace) -> None:
    from mafrg import methods
    from mafrg.methods.run import train_stage

    torch_threads(a.threads)
    train_stage(_paths(a), a.method, settings(a.block), a.stage, a.seed, a.threads or 2,
                code=method_code_hash(methods.get(a.method)), dataset=dataset_section(a))


def cmd_generate(a: argparse.Namespace) -> None:
    from mafrg import methods
    from mafrg.data.assemble import SplitArrays
    from mafrg.methods.run import generate_shard
    from mafrg.sharding import shard_name

    torch_threads(a.threads)
    paths = _paths(a)
    m = methods.get(a.method)
    variant = a.variant or (m.variants[0].name if len(m.variants) == 1 else None)
    if variant is None:
        raise ValueError(f"--variant: {m.name} has variants {[v.name for v in m.variants]}; choose one")
    data_path = paths.split_data(a.split)
    lo, hi = rows(a.rows, len(SplitArrays.read_meta(data_path)["rows"]), data_path)
    out = a.out or paths.prediction(a.split, m.label(variant), a.seed, shard_name(lo, hi))
    generate_shard(paths, m.name, settings(a.block), variant, a.seed, a.split, (lo, hi), a.n_predictions, out,
                   a.threads or 2, dataset=dataset_section(a), device=a.device, precision=a.precision)


def add_parsers(sub) -> None:
    s = sub.add_parser("methods", help="list the registered methods, or show one's resolved configuration")
    s.add_argument("--show", metavar="NAME", help="print this method's resolved configuration")
    s.add_argument("--preset", help="with --show: the preset to start from (default: the method's default)")
    s.add_argument("--set", metavar="JSON", help="with --show: overrides as JSON, e.g. '{\"ddim\": {\"eta\": 0.5}}'")
    s.set_defaults(func=cmd_methods)

    for name, fn in (("train", cmd_train), ("generate", cmd_generate)):
        s = sub.add_parser(name, help="train one stage of a method" if name == "train"
                           else "generate alpha reactions for a row shard of a split")
        s.add_argument("--method", required=True, help="a registered method (mafrg methods lists them)")
        s.add_argument("--results", default="results", help="the workflow's results folder")
        s.add_argument("--root", required=True, help="dataset root")
        s.add_argument("--block", help="JSON of the methods.<name> config block (preset + overrides)")
        s.add_argument("--seed", type=int, default=0, help="the run's seed (models/<method>/seed<seed>)")
        s.add_argument("--threads", type=int, default=None, help="torch threads (default 2)")
        s.add_argument("--dataset", help="JSON of the dataset section (layout, fps); default: REACT 2024 at --root")
        s.set_defaults(func=fn)
        if name == "train":
            s.add_argument("--stage", required=True, help="the training stage (mafrg methods lists a method's stages)")
        else:
            s.add_argument("--variant", help="default: the method's only variant")
            s.add_argument("--split", required=True, help="the split whose speakers get reactions")
            s.add_argument("--rows", help="rows start:stop (or a shard name r00000-00100); default all")
            s.add_argument("--n-predictions", type=int, default=10, help="reactions per speaker clip (alpha)")
            s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                           help="where a trained method samples (as generation.device)")
            s.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                           help="fp32, or the networks under bfloat16 autocast (as generation.precision)")
            s.add_argument("--out", help="default: the workflow's prediction path")




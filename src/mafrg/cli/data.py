"""Dataset steps: generate the demo dataset, validate splits, assemble arrays, appropriate-reaction matrices."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mafrg.cli.common import settings

log = logging.getLogger("mafrg")


def cmd_synth(a: argparse.Namespace) -> None:
    from mafrg.config import SynthConfig, from_dict
    from mafrg.synth.generator import generate

    given = settings(a.settings) or {}
    cfg = from_dict(SynthConfig, given)
    if a.layout:
        cfg.layout = a.layout
        if a.layout == "mars" and "fps" not in given:  # MARS is recorded at 30 fps
            cfg.fps = 30
    generate(cfg, a.out, workers=a.threads)


def cmd_layouts(a: argparse.Namespace) -> None:
    """Each registered dataset layout: its clip ids, frame rate, clip lengths and settings block."""
    from dataclasses import fields

    from mafrg.data.layouts import layouts

    for name, cls in sorted(layouts().items()):
        settings = [f.name for f in fields(cls.settings_cls)] if cls.settings_cls else []
        print(f"{name}: clips {cls.clip_shape}, {cls.native_fps} fps, "
              f"{'clips of any length' if cls.ragged else 'clips cut to dataset.clip_length'}, "
              f"official appropriateness: {cls.appropriate}"
              + (f"; settings dataset.{name}: {', '.join(settings)}" if settings else ""))


def cmd_validate(a: argparse.Namespace) -> None:
    from mafrg.atomic import write_json
    from mafrg.cli.common import dataset_section
    from mafrg.data.validate import validate_dataset
    from mafrg.provenance import provenance

    cfg = dataset_section(a)
    report = validate_dataset(a.root, a.splits, cfg)
    if a.out:
        write_json(a.out, report.to_dict() | {"provenance": provenance(settings(a.dataset))})
    log.info("dataset OK: %s", {k: v["clips"] for k, v in report.splits.items()})


def cmd_assemble(a: argparse.Namespace) -> None:
    from mafrg.cli.common import dataset_section
    from mafrg.data.assemble import assemble_clips, assemble_split
    from mafrg.data.layouts import get_layout
    from mafrg.data.layouts import dataset_file
    from mafrg.neighbours import load_official, official_path
    from mafrg.provenance import provenance

    cfg = dataset_section(a)
    if get_layout(cfg, a.root).ragged:  # clips of any length: each whole, rows mirrored as the layout says
        arrays = assemble_clips(a.root, a.split, cfg)
    else:
        arrays = assemble_split(a.root, a.split, cfg, mirrored=a.mirrored)
    official = official_path(a.root, a.split)
    if a.neighbours_source != "build" and official.exists():
        load_official(official, arrays.n_rows)  # checked now: a matrix that does not fit fails before any work
    manifest = dataset_file(a.root, "manifest.json")
    arrays.save(a.out, provenance(settings(a.dataset), dataset_manifest=str(manifest) if manifest.exists() else None))


def cmd_neighbours(a: argparse.Namespace) -> None:
    from mafrg.atomic import write_json, write_npy
    from mafrg.cli.common import dataset_section
    from mafrg.config import NeighbourConfig, from_dict
    from mafrg.data.assemble import load_split
    from mafrg.data.layouts import get_layout
    from mafrg.neighbours import for_layout
    from mafrg.provenance import provenance

    cfg = from_dict(NeighbourConfig, settings(a.settings))
    data = load_split(a.data)
    layout = get_layout(dataset_section(a))
    if data.ragged != layout.ragged:
        raise ValueError(f"{a.data}: {'clips of any length' if data.ragged else 'fixed-length clips'}, "
                         f"but the dataset's layout is {layout.name} (give --dataset with its layout)")
    speakers = ([data.speaker_emotion_of(k) for k in range(data.n_rows)] if data.ragged
                else data.speaker_emotion)
    m, origin = for_layout(layout, a.split, data.rows, speakers, cfg.source, cfg.quantile,
                           cfg.size, cfg.seed)
    write_npy(a.out, m)
    write_json(Path(a.out).with_suffix(".json"), {
        **origin, "rows": data.n_rows, "mean_neighbours_per_row": float(m.sum(axis=1).mean()),
        "provenance": provenance(settings(a.settings)),
    })
    log.info("neighbours %s: %s, %.1f per row", a.split, origin["source"], m.sum(axis=1).mean())


def add_parsers(sub) -> None:
    s = sub.add_parser("synth", help="generate the demo dataset (synth.layout: REACT 2024 or MARS)")
    s.add_argument("--out", required=True, help="dataset root to write (REACT 2024 layout)")
    s.add_argument("--settings", help="JSON of the synth config section")
    s.add_argument("--threads", type=int, default=1, help="processes writing sessions side by side (same output)")
    s.add_argument("--layout", choices=("react2024", "mars"),
                   help="the layout written (overrides the settings' layout); mars: 30 fps unless the settings give "
                        "fps, clip lengths log-uniform from min_frames to frames")
    s.set_defaults(func=cmd_synth)

    s = sub.add_parser("layouts", help="list the registered dataset layouts (dataset.layout)")
    s.set_defaults(func=cmd_layouts)

    s = sub.add_parser("validate", help="check every file the splits reference; list all problems")
    s.add_argument("--root", required=True, help="dataset root")
    s.add_argument("--splits", nargs="+", required=True, help="splits to check (train val test)")
    s.add_argument("--dataset", help="JSON of the dataset config section")
    s.add_argument("--out", help="write a JSON validation report here")
    s.set_defaults(func=cmd_validate)

    s = sub.add_parser("assemble", help="read a split into arrays in evaluation row order")
    s.add_argument("--root", required=True, help="dataset root")
    s.add_argument("--split", required=True, help="the split to read")
    s.add_argument("--dataset", help="JSON of the dataset config section")
    s.add_argument("--mirrored", action=argparse.BooleanOptionalAction, default=True,
                   help="append each pair with the roles swapped (evaluation rows; default on)")
    s.add_argument("--neighbours-source", default="auto", choices=("auto", "official", "build"),
                   help="as neighbours.source: unless 'build', an official neighbour matrix in the root must fit "
                        "the assembled rows")
    s.add_argument("--out", required=True, help="the assembled split (.npz)")
    s.set_defaults(func=cmd_assemble)

    s = sub.add_parser("neighbours", help="official or built appropriate-reaction matrix")
    s.add_argument("--root", required=True, help="dataset root (an official neighbour_emotion_<split>.npy is used)")
    s.add_argument("--split", required=True, help="the split")
    s.add_argument("--data", required=True, help="assembled split (.npz)")
    s.add_argument("--dataset", help="JSON of the dataset section (its layout says what 'official' is)")
    s.add_argument("--settings", help="JSON of the neighbours config section")
    s.add_argument("--out", required=True, help="the (R, R) 0/1 matrix (.npy; a .json beside it says how it was made)")
    s.set_defaults(func=cmd_neighbours)

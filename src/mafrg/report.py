"""Report tables: one per split, a row per method, metric columns grouped as in the REACT papers.

Written as CSV (one header row, columns in group order) and Markdown (with a group header row), plus a
README that gathers every split's table and a provenance block, so a table never travels without the
config hash, code version, package versions and dataset manifest that produced it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mafrg.atomic import write_json, write_text
from mafrg.report_html import Showcase
from mafrg.provenance import config_hash, file_sha256, provenance

log = logging.getLogger(__name__)

GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Appropriateness", (("FRCorr", "↑"), ("FRDist", "↓"))),
    ("Diversity", (("FRDiv", "↑"), ("FRVar", "↑"), ("FRDvs", "↑"))),
    ("Realism", (("FRRea", "↓"), ("FD_behaviour", "↓"))),
    ("Synchrony", (("FRSyn", "↓"),)),
)
COLUMNS = [m for _, ms in GROUPS for m, _ in ms]
METHOD_ORDER = ("GT", "B_Random", "B_Mime", "B_MeanSeq", "B_MeanFr")
DECIMALS = {"FRCorr": 4, "FRDist": 4, "FRDiv": 4, "FRVar": 4, "FRDvs": 4, "FRRea": 2, "FD_behaviour": 3, "FRSyn": 2}
LISTENER_COLUMNS = ("L2_expression", "L2_rotation", "FD_expression", "FD_rotation", "SI", "TLCC_lag")


def _order(methods: list[str]) -> list[str]:
    known = [m for m in METHOD_ORDER if m in methods]
    return known + sorted(m for m in methods if m not in METHOD_ORDER)


def load_metrics(paths: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """{split: {method: metrics-json}} from files written by ``mafrg evaluate``."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for p in paths:
        d = json.loads(Path(p).read_text())
        split = d.get("split") or Path(p).parent.name
        method = d.get("method") or Path(p).stem
        out.setdefault(split, {})[method] = d
    return out


def load_realism(paths: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """{split: {method: realism-json}} from files written by ``mafrg evaluate-3dmm``."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for p in paths:
        d = json.loads(Path(p).read_text())
        out.setdefault(d["split"], {})[d["method"]] = d
    return out


def split_table(results: dict[str, dict[str, Any]], realism: dict[str, dict[str, Any]] | None = None) -> pd.DataFrame:
    realism = realism or {}
    rows = []
    for m in _order(list(results)):
        rea = realism.get(m, {})
        extra = {"FRRea": rea.get("FRRea"), "FD_behaviour": rea.get("FD_behaviour")}
        rows.append({"method": m, **{c: results[m][c] for c in COLUMNS if c in results[m]},
                     **{k: float("nan") if v is None else v for k, v in extra.items()}})
    return pd.DataFrame(rows, columns=["method", *COLUMNS])


def listener_table(realism: dict[str, dict[str, Any]]) -> pd.DataFrame:
    rows = [{"method": m, **realism[m]["listener_metrics"]} for m in _order(list(realism))]
    return pd.DataFrame(rows, columns=["method", *LISTENER_COLUMNS])


def markdown_table(df: pd.DataFrame) -> str:
    group_row = ["", *[g if i == 0 else "" for g, ms in GROUPS for i, _ in enumerate(ms)]]
    head = ["Method", *[f"{m} {arrow}" for _, ms in GROUPS for m, arrow in ms]]
    lines = [
        "| " + " | ".join(group_row) + " |",
        "|" + "|".join(["---"] + ["---:"] * len(COLUMNS)) + "|",
        "| " + " | ".join(f"**{h}**" for h in head) + " |",
    ]
    for _, r in df.iterrows():
        cells = [str(r["method"])]
        for c in COLUMNS:
            v = r[c]
            cells.append("n/a" if pd.isna(v) else f"{v:.{DECIMALS[c]}f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _dataset_block(root: str | None) -> dict[str, Any]:
    if not root:
        return {}
    manifest = Path(root) / "manifest.json"
    if not manifest.exists():
        return {"root": root, "manifest": None}
    m = json.loads(manifest.read_text())
    return {
        "root": root,
        "manifest": str(manifest),
        "manifest_sha256": file_sha256(manifest),
        "generator": m.get("generator"),
        "settings": m.get("settings"),
        "splits": m.get("splits"),
        "espeak_ng": m.get("espeak_ng"),
    }


def build_report(metric_files: list[str], out_dir: str | Path, config: dict | None = None,
                 config_path: str | None = None, dataset_root: str | None = None,
                 neighbours: list[str] | None = None, features: list[str] | None = None,
                 losses: list[str] | None = None, realism_files: list[str] | None = None,
                 showcase: "Showcase | None" = None) -> dict[str, Any]:
    out_dir = Path(out_dir)
    results = load_metrics(metric_files)
    realism = load_realism(realism_files or [])
    cfg = config if config is not None else (yaml.safe_load(Path(config_path).read_text()) if config_path else None)
    prov = provenance(cfg)
    prov.pop("config", None)
    prov["config_file"] = config_path
    prov["dataset"] = _dataset_block(dataset_root)
    prov["neighbours"] = {Path(p).stem: {k: v for k, v in json.loads(Path(p).read_text()).items() if k != "provenance"}
                          for p in neighbours or []}
    feats = {}
    for p in features or []:
        m = json.loads(Path(p).read_text())
        feats[m["split"]] = {"shards": len(m["shards"]), "frames": m["frames"], "untrained": m["untrained"],
                             "extractors": {s: v["identities"] for s, v in m["streams"].items()}}
    prov["features"] = feats
    untrained = sorted({s for f in feats.values() for s in f["untrained"]})
    prov["protocols"] = sorted({d.get("protocol", "react2024") for s in results.values() for d in s.values()})

    sections = []
    tables: dict[str, pd.DataFrame] = {}
    ltables: dict[str, pd.DataFrame] = {}
    for split in sorted(results, key=lambda s: ("val", "test").index(s) if s in ("val", "test") else 9):
        df = tables[split] = split_table(results[split], realism.get(split))
        _write_csv(df, out_dir / f"{split}.csv")
        md = markdown_table(df)
        write_text(out_dir / f"{split}.md", f"# {split}\n\n{md}\n")
        info = next(iter(results[split].values())).get("info", {})
        sections.append(
            f"## Split `{split}` ({info.get('rows', '?')} mirrored rows, {info.get('predictions', '?')} predictions, "
            f"T = {info.get('frames', '?')}, protocol `{next(iter(results[split].values())).get('protocol')}`)"
            f"\n\n{md}\n"
        )
        if realism.get(split):
            lt = ltables[split] = listener_table(realism[split])
            _write_csv(lt, out_dir / f"{split}_listener.csv")
            lmd = simple_markdown(lt)
            write_text(out_dir / f"{split}_listener.md", f"# {split}: Efficient Listener metrics\n\n{lmd}\n")
            sections.append(f"### `{split}`: Efficient Listener metrics (on 3DMM)\n\n{lmd}\n")
    ds = prov["dataset"]
    synthetic = bool(ds.get("generator"))
    notes = [
        "Metrics follow the official REACT 2024 evaluation (protocol `react2024`), quirks included: "
        "FRCorr and FRDist sum over the 10 predictions; FRSyn uses each row's first prediction only.",
        "Sanity anchors from the formulas: B_Random has FRDiv ≈ FRDvs ≈ 1/6 and FRVar ≈ 1/12; B_Mime and "
        "B_MeanSeq have FRDiv 0; B_MeanFr has FRVar 0 and FRSyn 49.",
    ]
    if untrained:
        notes.insert(0, f"**Warning: features of {', '.join(untrained)} come from UNTRAINED networks** "
                        "(random weights: `checkpoint: untrained`); results of models trained on them say nothing "
                        "about those extractors.")
    if synthetic:
        notes.insert(0, "**Data: the synthetic demo dataset generated by `mafrg synth`** — not real people; "
                        "these numbers check the pipeline, they are not findings about human behaviour.")
    rea_status = sorted({d.get("FRRea_status", "") for s in realism.values() for d in s.values()})
    if realism and any(d.get("FRRea") is None for s in realism.values() for d in s.values()):
        notes.append("**FRRea is not available** (no InceptionV3 weights configured: `evaluation.frrea_weights`). "
                     "The Realism column `FD_behaviour` is a *different metric*: the Fréchet distance between "
                     "predicted and real listener frames in emotion + 3DMM space (first prediction, every 30th frame).")
    prov["frrea"] = rea_status
    if "corrected" in prov["protocols"]:
        notes[notes.index(next(n for n in notes if n.startswith("Metrics follow")))] = (
            "Metrics use the **corrected** protocol: FRSyn over all predictions with constant channels left out "
            "(the official `react2024` protocol scores them 49 and uses the first prediction only).")
    if losses:
        sections.append(training_section(losses, out_dir))
    text = (
        "# mafrg report\n\n" + "\n".join(f"- {n}" for n in notes) + "\n\n" + "\n".join(sections)
        + "\n## Provenance\n\n```yaml\n" + yaml.safe_dump(prov, sort_keys=False, allow_unicode=True) + "```\n"
    )
    write_text(out_dir / "README.md", text)
    write_json(out_dir / "provenance.json", prov)
    from mafrg.report_html import page

    write_text(out_dir / "report.html", page(tables, ltables, notes, untrained, synthetic, prov, showcase,
                                             out_dir / "training_losses.png" if losses else None, DECIMALS))
    log.info("report written to %s", out_dir)
    return prov


def simple_markdown(df: pd.DataFrame, decimals: int = 4) -> str:
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "|".join(["---"] + ["---:"] * (len(df.columns) - 1)) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(str(v) if isinstance(v, str) else ("n/a" if pd.isna(v) else f"{v:.{decimals}f}")
                                       for v in r) + " |")
    return "\n".join(lines)


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    from mafrg.atomic import atomic_path

    with atomic_path(path, suffix=".csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.6f")


def training_section(loss_csvs: list[str], out_dir: Path) -> str:
    """Per-epoch train/val loss curves of each training stage as one PNG, plus the final values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mafrg.atomic import atomic_path

    frames = {Path(p).stem.replace("_losses", ""): pd.read_csv(p) for p in loss_csvs}
    fig, axes = plt.subplots(1, len(frames), figsize=(5 * len(frames), 3.2), squeeze=False)
    rows = []
    for ax, (name, df) in zip(axes[0], frames.items()):
        ax.plot(df.epoch, df.train_loss, label="train")
        ax.plot(df.epoch, df.val_loss, label="validation (held-out training clips)")
        ax.set_title(name.upper())
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend(fontsize=8)
        last = df.iloc[-1]
        rows.append(f"| {name.upper()} | {int(last.epoch)} | {last.train_loss:.4f} | {last.val_loss:.4f} | "
                    f"{df.seconds.sum():.0f} | {df.peak_rss_mb.max():.0f} |")
    fig.tight_layout()
    with atomic_path(out_dir / "training_losses.png", suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return ("## Training\n\n![training losses](training_losses.png)\n\n"
            "| stage | epochs | train loss | val loss | seconds | peak RSS MB |\n|---|---:|---:|---:|---:|---:|\n"
            + "\n".join(rows) + "\n")


__all__ = ["build_report", "config_hash"]

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

import numpy as np
import pandas as pd
import yaml

from mafrg.atomic import write_json, write_text
from mafrg.report_html import Showcase, best_cells, mean_std
from mafrg.provenance import config_hash, file_sha256, provenance

log = logging.getLogger(__name__)

from mafrg import methods
from mafrg.metrics import table as mt
from mafrg.report_latex import latex_table

REACT_GROUPS = mt.groups("react")
COLUMNS = [m.name for _, ms in REACT_GROUPS for m in ms]
LISTENER_COLUMNS = mt.names(table="listener")
SMOOTHNESS_COLUMNS = mt.names(table="smoothness")
DECIMALS = mt.decimals()
HIGHER_IS_BETTER = mt.higher_is_better()


def _read_runs(paths: list[str], kind: str) -> dict[str, dict[str, dict[int, dict[str, Any]]]]:
    """{split: {label: {seed: json}}} from metric (or split-metric) JSON files."""
    out: dict[str, dict[str, dict[int, dict[str, Any]]]] = {}
    for p in paths:
        d = json.loads(Path(p).read_text())
        if "split" not in d or "method" not in d:
            raise ValueError(f"{p}: not a mafrg {kind} file (no split/method)")
        out.setdefault(d["split"], {}).setdefault(d["method"], {})[int(d.get("seed") or 0)] = d
    return out


def load_metrics(paths: list[str]) -> dict[str, dict[str, dict[int, dict[str, Any]]]]:
    """{split: {label: {seed: metrics-json}}} from files written by ``mafrg aggregate`` / ``evaluate``."""
    return _read_runs(paths, "metrics")


def load_split_metrics(paths: list[str]) -> dict[str, dict[str, dict[int, dict[str, Any]]]]:
    """{split: {label: {seed: split-metrics json}}} from files written by ``mafrg evaluate-split``."""
    return _read_runs(paths, "split-metrics")


def _mean_std(values: list[float | None]) -> tuple[float, float]:
    v = np.array([np.nan if x is None else float(x) for x in values], np.float64)
    if not np.isfinite(v).any():
        return float("nan"), float("nan")
    v = v[np.isfinite(v)]
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan")


def _rows(runs: dict[str, dict[int, dict[str, Any]]], getter, columns) -> list[dict[str, Any]]:
    """A row per run label: the mean and std over its seeds of ``getter(label, seed, json, column)``."""
    rows = []
    for label in methods.label_order(list(runs)):
        row: dict[str, Any] = {"method": label, "seeds": len(runs[label])}
        for c in columns:
            row[c], row[f"{c}_std"] = _mean_std([getter(label, seed, d, c) for seed, d in runs[label].items()])
        rows.append(row)
    return rows


def _frame(rows: list[dict[str, Any]], columns) -> pd.DataFrame:
    """method, seeds, the metric columns, then their standard deviations over seeds (NaN for one seed)."""
    return pd.DataFrame(rows, columns=["method", "seeds", *columns, *[f"{c}_std" for c in columns]])


def split_table(results: dict[str, dict[int, dict[str, Any]]],
                split_metrics: dict[str, dict[int, dict[str, Any]]] | None = None) -> pd.DataFrame:
    """One split's REACT table: a row per run label, the mean (and std) over its seeds."""
    split_metrics = split_metrics or {}

    def get(label, seed, d, c):
        return d[c] if c in d else split_metrics.get(label, {}).get(seed, {}).get(c)

    return _frame(_rows(results, get, COLUMNS), COLUMNS)


def listener_table(split_metrics: dict[str, dict[int, dict[str, Any]]]) -> pd.DataFrame:
    return _frame(_rows(split_metrics, lambda label, seed, d, c: d["listener_metrics"].get(c), LISTENER_COLUMNS),
                  LISTENER_COLUMNS)


def smoothness_table(split_metrics: dict[str, dict[int, dict[str, Any]]]) -> pd.DataFrame:
    return _frame(_rows(split_metrics, lambda label, seed, d, c: d.get("smoothness", {}).get(c), SMOOTHNESS_COLUMNS),
                  SMOOTHNESS_COLUMNS)


SMOOTHNESS_DEFINITION = (
    "Vel / Acc = mean absolute first / second difference over frames of the generated 3DMM coefficients and "
    "emotion channels (all reactions), and of the head pose alone (3DMM 52:58, `_pose`); the GT row is the "
    "true listeners' value, the reference to be close to. "
    "ExclAU = share of (frame, pair) with both AUs of a mutually exclusive pair active (> 0.5): AU12/AU15, "
    "AU24/AU25, AU24/AU26.")


LISTENER_DEFINITIONS = {
    "mafrg": "Definition `mafrg`: L2 = per-frame Euclidean distance; FD = Fréchet distance of split-level Gaussians "
             "of all predicted vs all true listener frames; SI = entropy (nats) over k-means clusters of the "
             "training listeners (`evaluation.si_clusters`).",
    "l2l": "Definition `l2l` (the learning-to-listen re-implementation, Dyadic-Interaction-Modeling "
           "`metrics/eval_utils.py`): L2 = mean squared difference per sequence; FD = mean over sequences of the "
           "Fréchet distance between that sequence's predicted and true listener Gaussians; SI = entropy (bits) "
           "over k = 40 (expression) / 20 (rotation) k-means clusters of the split's true listeners.",
}


def listener_definition(split_metrics: dict[str, dict[int, dict[str, Any]]]) -> str:
    """The sentence naming the listener-metric definition of a split's runs (all must share one)."""
    used = sorted({d.get("listener_protocol", "mafrg") for r in split_metrics.values() for d in r.values()})
    return " ".join(LISTENER_DEFINITIONS[u] for u in used) + (" (runs mix definitions)" if len(used) > 1 else "")


def _cell(r: pd.Series, c: str, best: set[tuple[Any, str]]) -> str:
    """``mean ± std`` (or the mean for one seed, ``n/a`` when missing); bold when it is the column's best."""
    txt = mean_std(r, c, DECIMALS.get(c, 4))
    if txt is None:
        return "n/a"
    return f"**{txt}**" if (r.name, c) in best else txt


def markdown_table(df: pd.DataFrame) -> str:
    """The paper-style table: a group header row, arrows, the best model-method value of each column in bold."""
    group_row = ["", *[g if i == 0 else "" for g, ms in REACT_GROUPS for i, _ in enumerate(ms)]]
    head = ["Method", *[f"{m.name} {m.arrow}" for _, ms in REACT_GROUPS for m in ms]]
    lines = [
        "| " + " | ".join(group_row) + " |",
        "|" + "|".join(["---"] + ["---:"] * len(COLUMNS)) + "|",
        "| " + " | ".join(f"**{h}**" for h in head) + " |",
    ]
    best = best_cells(df, HIGHER_IS_BETTER)
    for _, r in df.iterrows():
        lines.append("| " + " | ".join([str(r["method"]), *[_cell(r, c, best) for c in COLUMNS]]) + " |")
    return "\n".join(lines)


def _dataset_block(root: str | None) -> dict[str, Any]:
    from mafrg.data.layouts import dataset_file

    if not root:
        return {}
    manifest = dataset_file(root, "manifest.json")
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
                 config_files: list[str] | None = None, dataset_root: str | None = None,
                 neighbours: list[str] | None = None, features: list[str] | None = None,
                 losses: list[str] | None = None, split_files: list[str] | None = None,
                 showcase: "Showcase | None" = None) -> dict[str, Any]:
    out_dir = Path(out_dir)
    results = load_metrics(metric_files)
    split_metrics = load_split_metrics(split_files or [])
    config_files = list(config_files or [])
    if config is None and len(config_files) == 1:
        config = yaml.safe_load(Path(config_files[0]).read_text())
    prov = provenance(config)
    prov.pop("config", None)
    # the files the effective config was merged from (snakemake's config.yaml, then each --configfile)
    prov["config_files"] = [{"path": str(p), "sha256": file_sha256(p)} for p in config_files]
    prov["dataset"] = _dataset_block(dataset_root)
    prov["neighbours"] = {Path(p).stem: {k: v for k, v in json.loads(Path(p).read_text()).items() if k != "provenance"}
                          for p in neighbours or []}
    feats = {}
    for p in features or []:
        m = json.loads(Path(p).read_text())
        feats[m["split"]] = {"files": len(m["files"]), "frames": m["frames"], "untrained": m["untrained"],
                             "extractors": {s: v["identities"] for s, v in m["streams"].items()}}
    prov["features"] = feats
    untrained = sorted({s for f in feats.values() for s in f["untrained"]})
    prov["protocols"] = sorted({d.get("protocol", "react2024") for s in results.values() for r in s.values()
                                for d in r.values()})

    sections = []
    tables: dict[str, pd.DataFrame] = {}
    ltables: dict[str, list[tuple[str, pd.DataFrame]]] = {}
    for split in sorted(results, key=lambda s: ("val", "test").index(s) if s in ("val", "test") else 9):
        df = tables[split] = split_table(results[split], split_metrics.get(split))
        _write_csv(df, out_dir / f"{split}.csv")
        md = markdown_table(df)
        write_text(out_dir / f"{split}.md", f"# {split}\n\n{md}\n")
        write_text(out_dir / f"{split}.tex", latex_table(df, split))
        first = next(iter(next(iter(results[split].values())).values()))
        info = first.get("info", {})
        seeds = max(len(r) for r in results[split].values())
        length = (f"T = {info.get('frames', '?')}" if info.get("frames") is not None else
                  f"clips of any length, ground truths aligned by `{info.get('gt_alignment', '?')}`")
        rows_word = "mirrored rows" if info.get("frames") is not None else "rows"
        sections.append(
            f"## Split `{split}` ({info.get('rows', '?')} {rows_word}, {info.get('predictions', '?')} predictions, "
            f"{length}, protocol `{first.get('protocol')}`"
            + (f"; mean ± std over up to {seeds} seeds" if seeds > 1 else "") + f")\n\n{md}\n"
        )
        if split_metrics.get(split):
            lt = listener_table(split_metrics[split])
            _write_csv(lt, out_dir / f"{split}_listener.csv")
            lmd = simple_markdown(lt)
            which = listener_definition(split_metrics[split])
            write_text(out_dir / f"{split}_listener.md", f"# {split}: Efficient Listener metrics\n\n{which}\n\n{lmd}\n")
            sections.append(f"### `{split}`: Efficient Listener metrics (on 3DMM)\n\n{which}\n\n{lmd}\n")
            st = smoothness_table(split_metrics[split])
            _write_csv(st, out_dir / f"{split}_smoothness.csv")
            smd = simple_markdown(st)
            write_text(out_dir / f"{split}_smoothness.md", f"# {split}: smoothness\n\n{SMOOTHNESS_DEFINITION}\n\n{smd}\n")
            sections.append(f"### `{split}`: smoothness and anatomy\n\n{SMOOTHNESS_DEFINITION}\n\n{smd}\n")
            ltables[split] = [("Efficient Listener metrics (on 3DMM)", lt), ("Smoothness and anatomy", st)]
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
    rea_runs = [d for s in split_metrics.values() for r in s.values() for d in r.values()]
    rea_status = sorted({d.get("FRRea_status", "") for d in rea_runs})
    if rea_runs and any(d.get("FRRea") is None for d in rea_runs):
        notes.append("**FRRea is not available** (no InceptionV3 weights configured: `evaluation.frrea_weights`). "
                     "The Realism column `FD_behaviour` is a *different metric*: the Fréchet distance between "
                     "predicted and real listener frames in emotion + 3DMM space (first prediction, every 30th frame).")
    prov["frrea"] = rea_status
    few = sorted({(label, d["info"]["predictions"]) for s in results.values() for label, r in s.items()
                  for d in r.values() if (d.get("info") or {}).get("predictions", 10) < 10})
    if few:
        notes.insert(0, "**Fewer than 10 reactions per speaker clip** for " + ", ".join(f"{lab} ({n})" for lab, n in few)
                     + ": FRCorr and FRDist sum over the reactions, so these rows are not comparable with "
                     "challenge results.")
    if "react2025" in prov["protocols"]:
        aligns = sorted({(d.get("info") or {}).get("gt_alignment", "?") for s in results.values() for r in s.values()
                         for d in r.values()})
        notes[notes.index(next(n for n in notes if n.startswith("Metrics follow")))] = (
            "Metrics follow the official REACT 2025/2026 evaluation (protocol `react2025`), quirks included: FRCorr "
            "and FRDist sum over the 10 predictions; FRSyn uses each row's first prediction only, with lags of "
            "±49 frames (the official code's 25 fps against 30 fps data); FRDvs is not defined on clips of "
            "different lengths (n/a). A ground truth of another length than the prediction is aligned by "
            f"`{', '.join(aligns)}` (evaluation.gt_alignment; the official learned post-processor is not public).")
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


def simple_markdown(df: pd.DataFrame) -> str:
    """A table of metric columns (mean ± std over seeds where there are several), the best in bold."""
    cols = [c for c in df.columns if c not in ("method", "seeds") and not c.endswith("_std")]
    lines = ["| method | " + " | ".join(cols) + " |", "|" + "|".join(["---"] + ["---:"] * len(cols)) + "|"]
    best = best_cells(df, HIGHER_IS_BETTER)
    for _, r in df.iterrows():
        lines.append("| " + " | ".join([str(r["method"]), *[_cell(r, c, best) for c in cols]]) + " |")
    return "\n".join(lines)


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    from mafrg.atomic import atomic_path

    with atomic_path(path, suffix=".csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.6f")


def _loss_name(path: str) -> tuple[str, str]:
    """(method/stage, seed) of ``models/<method>/seed<seed>/<stage>_losses.csv``."""
    p = Path(path)
    stage = p.stem.removesuffix("_losses")
    seed = p.parent.name.removeprefix("seed") if p.parent.name.startswith("seed") else "0"
    return f"{p.parent.parent.name} {stage}", seed


def training_section(loss_csvs: list[str], out_dir: Path) -> str:
    """Per-epoch train/val loss curves, one panel per (method, stage) with a line per seed, and final values."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mafrg.atomic import atomic_path

    panels: dict[str, list[tuple[str, pd.DataFrame]]] = {}
    for p in loss_csvs:
        name, seed = _loss_name(p)
        panels.setdefault(name, []).append((seed, pd.read_csv(p)))
    cols = min(3, len(panels))
    nrow = -(-len(panels) // cols)
    fig, axes = plt.subplots(nrow, cols, figsize=(5 * cols, 3.2 * nrow), squeeze=False)
    rows = []
    for ax, (name, runs) in zip(axes.ravel(), panels.items()):
        for seed, df in runs:
            tag = f" (seed {seed})" if len(runs) > 1 else ""
            ax.plot(df.epoch, df.train_loss, label=f"train{tag}")
            ax.plot(df.epoch, df.val_loss, ls="--", label=f"validation{tag}")
            last = df.iloc[-1]
            rows.append(f"| {name} | {seed} | {int(last.epoch)} | {last.train_loss:.4f} | {last.val_loss:.4f} | "
                        f"{df.seconds.sum():.0f} | {df.peak_rss_mb.max():.0f} |")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend(fontsize=7)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    with atomic_path(out_dir / "training_losses.png", suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return ("## Training\n\n![training losses](training_losses.png)\n\nValidation losses use held-out *training* "
            "clips.\n\n| method / stage | seed | epochs | train loss | val loss | seconds | peak RSS MB |\n"
            "|---|---:|---:|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n")


def load_showcase(data_path: str | None, pred_path: str | None, n_rows: int = 3, fps: float = 25.0):
    """The first rows of one prediction shard (and its 3DMM when present) for traces and GIFs."""
    if not (data_path and pred_path):
        return None
    from mafrg import predictions
    from mafrg.data.assemble import load_split
    from mafrg.sharding import parse_rows

    data = load_split(data_path)
    lo, _ = parse_rows(Path(pred_path).stem)
    if data.ragged:  # clips of any length: the shown rows' first frames, cut to the shortest
        r = predictions.load(pred_path)
        n = min(n_rows, r.n_rows)
        rows = list(range(lo, lo + n))
        t = min(min(int(x) for x in r.lengths[:n]), *(len(data.listener_emotion_of(k)) for k in rows))
        cut = lambda xs: np.stack([np.asarray(x)[:t] for x in xs])  # noqa: E731
        return Showcase(
            split=data.split, method=Path(pred_path).parent.parent.name, rows=rows,
            speaker_emotion=cut(data.speaker_emotion_of(k) for k in rows),
            listener_emotion=cut(data.listener_emotion_of(k) for k in rows),
            pred_emotion=np.stack([r.row(i)[0][:, :t] for i in range(n)]),
            speaker_3dmm=cut(data.speaker_tdmm_of(k) for k in rows),
            pred_3dmm=np.stack([r.row(i)[1][:, :t] for i in range(n)]),
            labels=[f"speaker {data.rows[k].speaker} → listener {data.rows[k].listener} (first {t} frames)"
                    for k in rows], fps=fps,
        )
    pred = predictions.load_emotion(pred_path)
    n = min(n_rows, pred.shape[0])
    rows = list(range(lo, lo + n))
    has_3dmm = predictions.tdmm_path(pred_path).is_file()
    return Showcase(
        split=data.split, method=Path(pred_path).parent.parent.name, rows=rows,
        speaker_emotion=data.speaker_emotion[lo : lo + n], listener_emotion=data.listener_emotion[lo : lo + n],
        pred_emotion=np.asarray(pred[:n]), speaker_3dmm=data.speaker_tdmm[lo : lo + n],
        pred_3dmm=np.asarray(predictions.load_3dmm(pred_path)[:n]) if has_3dmm else None,
        labels=[f"speaker {data.rows[k].speaker} → listener {data.rows[k].listener}" for k in rows], fps=fps,
    )


__all__ = ["build_report", "config_hash", "load_showcase"]

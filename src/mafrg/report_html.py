"""The HTML report: one self-contained file (inline CSS, images as data URIs, no network) that opens offline.

Contents: warnings first (synthetic data, untrained extractors, FRRea not available), the paper-style tables per
split, bar charts per metric (model methods as bars, GT and the naive baselines as labelled reference lines), an
appropriateness-vs-diversity scatter, per-channel traces (speaker, true listener, three generated reactions) and
rendered GIFs of generated reactions beside the speaker, then the Efficient Listener table and the provenance.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mafrg.metrics import table as mt

CHART_METRICS = mt.names(source="engine")  # the REACT engine's six metrics get a bar chart each
HIGHER_IS_BETTER = mt.higher_is_better()
TRACE_CHANNELS = (("Valence", 15), ("Arousal", 16), ("Happy", 18), ("AU12", 7))
_PALETTE = ("#222222", "#d62728", "#9467bd", "#8c564b", "#7f7f7f", "#bcbd22", "#17becf", "#e377c2", "#ff7f0e",
            "#2ca02c")


def _colours(df: pd.DataFrame) -> dict[str, str]:
    """A fixed colour per baseline (in report order); model methods are blue."""
    refs = df.method[_references(df)].tolist()
    return {m: _PALETTE[i % len(_PALETTE)] for i, m in enumerate(refs)}


@dataclass
class Showcase:
    """A few rows of one split for traces and GIFs: inputs and one method's predictions."""

    split: str
    method: str
    rows: list[int]
    speaker_emotion: np.ndarray  # (n, T, 25)
    listener_emotion: np.ndarray  # (n, T, 25)
    pred_emotion: np.ndarray  # (n, P, T, 25)
    speaker_3dmm: np.ndarray  # (n, T, 58)
    pred_3dmm: np.ndarray | None = None  # (n, P, T, 58)
    labels: list[str] = field(default_factory=list)
    fps: float = 25.0  # the dataset's frame rate (the traces' time axis)


def _uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return _uri(buf.getvalue(), "image/png")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _references(df: pd.DataFrame) -> pd.Series:
    from mafrg import methods

    return df.method.isin(methods.reference_labels())


def bar_figure(df: pd.DataFrame, split: str):
    """One panel per metric, two rows of three: model methods as horizontal bars (± std over seeds; their names
    once, on the left), baselines as dashed vertical reference lines named in one legend below. Nothing is
    written next to a line or under a bar, so no label can overlap another however close the values are."""
    plt = _plt()
    metrics = [c for c in CHART_METRICS if c in df.columns]
    is_ref = _references(df)
    colours = _colours(df)
    models, refs = df[~is_ref], df[is_ref]
    cols = min(3, len(metrics))
    rows = -(-len(metrics) // cols)
    height = 0.9 + 0.28 * max(len(models), 2)
    fig, axes = plt.subplots(rows, cols, figsize=(10.5, rows * height + 0.9), sharey=True, squeeze=False)
    y = np.arange(len(models))[::-1]  # first method at the top
    handles = {}
    for ax, m in zip(axes.flat, metrics):
        err = models[f"{m}_std"].to_numpy(dtype=float) if f"{m}_std" in models else None
        ax.barh(y, models[m].to_numpy(dtype=float), color="#1f77b4", height=0.7,
                xerr=None if err is None or np.isnan(err).all() else np.nan_to_num(err), capsize=2)
        for _, r in refs.iterrows():
            if pd.notna(r[m]):
                handles[r.method] = ax.axvline(r[m], color=colours.get(r.method, "k"), lw=1, ls="--")
        ax.set_title(f"{m} {'↑' if HIGHER_IS_BETTER[m] else '↓'}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    axes[0, 0].set_yticks(y, models.method)
    for ax in axes.flat[len(metrics):]:
        ax.set_visible(False)
    fig.suptitle(f"{split}: model methods (bars) against GT and baselines (dashed lines)", fontsize=9)
    legend_rows = -(-len(refs) // 5)
    fig.tight_layout(rect=(0, (0.15 + 0.17 * legend_rows) / (rows * height + 0.9), 1, 1))
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(5, len(handles)), fontsize=7,
                   frameon=False)
    return fig


def bar_charts(df: pd.DataFrame, split: str) -> str:
    return _png(bar_figure(df, split))


_MARKERS = "osD^vP*Xh<>p"


def scatter_figure(df: pd.DataFrame, split: str):
    """Appropriateness (FRCorr, FRDist) against diversity (FRDiv): one marker per method, named in one legend
    beside the plots (labels written at the points overlap wherever methods score alike)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.6))
    colours = _colours(df)
    is_ref = _references(df).to_numpy()
    n_models = max(1, int((~is_ref).sum()))
    blues = plt.get_cmap("Blues")  # model methods in shades of blue (the bars' colour), baselines in theirs
    handles = []
    k = 0
    for i, (_, r) in enumerate(df.iterrows()):
        if is_ref[i]:
            colour = colours.get(r.method)
        else:
            colour, k = blues(0.4 + 0.55 * k / max(1, n_models - 1)), k + 1
        style = dict(color=colour, marker=_MARKERS[i % len(_MARKERS)], s=30 if is_ref[i] else 42,
                     edgecolors="none" if is_ref[i] else "k", linewidths=0.5)
        for ax, appr in zip(axes, ("FRCorr", "FRDist")):
            h = ax.scatter(r.FRDiv, r[appr], **style)
        handles.append(h)
    for ax, appr in zip(axes, ("FRCorr", "FRDist")):
        ax.set_xlabel("FRDiv (diversity ↑)", fontsize=8)
        ax.set_ylabel(f"{appr} ({'↑' if HIGHER_IS_BETTER[appr] else '↓'})", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{split}: appropriateness vs diversity", fontsize=9)
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    fig.legend(handles, list(df.method), loc="center right", fontsize=7, frameon=False,
               ncol=1 if len(df) <= 18 else 2)
    return fig


def scatter(df: pd.DataFrame, split: str) -> str:
    return _png(scatter_figure(df, split))


def traces(sc: Showcase, n_generated: int = 3) -> list[tuple[str, str]]:
    """Per row: speaker, true listener and the first n generated reactions on a few channels."""
    plt = _plt()
    out = []
    t = np.arange(sc.speaker_emotion.shape[1]) / sc.fps
    for i, row in enumerate(sc.rows):
        fig, axes = plt.subplots(1, len(TRACE_CHANNELS), figsize=(3.2 * len(TRACE_CHANNELS), 2.6), sharex=True)
        for ax, (name, c) in zip(axes, TRACE_CHANNELS):
            ax.plot(t, sc.speaker_emotion[i, :, c], color="#ff7f0e", lw=1.2, label="speaker")
            ax.plot(t, sc.listener_emotion[i, :, c], color="#222222", lw=1.2, label="true listener")
            for p in range(min(n_generated, sc.pred_emotion.shape[1])):
                ax.plot(t, sc.pred_emotion[i, p, :, c], lw=0.9, alpha=0.8, label=f"{sc.method} #{p + 1}")
            ax.set_title(name, fontsize=9)
            ax.set_xlabel("s", fontsize=8)
            ax.tick_params(labelsize=7)
        axes[0].legend(fontsize=6, loc="upper left")
        fig.tight_layout()
        label = sc.labels[i] if i < len(sc.labels) else f"row {row}"
        out.append((f"{sc.split} row {row}: {label}", _png(fig)))
    return out


def reaction_gif(speaker_3dmm: np.ndarray, reaction_3dmm: np.ndarray, size: int = 112, step: int = 2,
                 max_frames: int = 75, fps: float = 25.0) -> str:
    """Animated GIF: the speaker (left) and a generated reaction (right), both rendered by mafrg's renderer."""
    from PIL import Image

    from mafrg.render import render_frame

    frames = []
    for t in range(0, min(len(speaker_3dmm), max_frames * step), step):
        left = render_frame(speaker_3dmm[t], None, size)[..., ::-1]
        right = render_frame(reaction_3dmm[t], None, size)[..., ::-1]
        gap = np.full((size, 6, 3), 255, np.uint8)
        frames.append(Image.fromarray(np.ascontiguousarray(np.concatenate([left, gap, right], axis=1))))
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=int(1000 * step / fps), loop=0)
    return _uri(buf.getvalue(), "image/gif")


def best_cells(df: pd.DataFrame, higher_is_better: dict[str, bool]) -> set[tuple[Any, str]]:
    """(row index, column) of each metric column's best mean among the model methods (equal values share it):
    GT and the baselines (copies of the input such as B_Mime, random and mean reactions, nearest neighbours)
    are references, not contenders, and some of their values are trivially "best" (B_Random's diversity,
    B_Mime's synchrony)."""
    contenders = df[~_references(df)] if "method" in df else df
    out: set[tuple[Any, str]] = set()
    for c, hib in higher_is_better.items():
        if c in contenders:
            col = pd.to_numeric(contenders[c], errors="coerce")
            if col.notna().any():
                out |= {(i, c) for i in col.index[col == (col.max() if hib else col.min())]}
    return out


def mean_std(r: pd.Series, c: str, decimals: int, pm: str = " ± ") -> str | None:
    """A metric cell's text: the mean over seeds, then ``pm`` and the std where there are several seeds; None
    when the metric is missing (each table writes that its own way)."""
    v, sd = r[c], r.get(f"{c}_std", float("nan"))
    if pd.isna(v):
        return None
    return f"{v:.{decimals}f}" + (f"{pm}{sd:.{decimals}f}" if pd.notna(sd) else "")


def _table(df: pd.DataFrame, decimals: dict[str, int], best: dict[str, bool] | None = None) -> str:
    """An HTML table: mean ± std cells when a method has several seeds, the best model-method value marked."""
    cols = [c for c in df.columns if not c.endswith("_std") and (c != "seeds" or (df[c] > 1).any())]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in cols)
    marked = best_cells(df, best or {})
    body = []
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            if isinstance(v, (float, np.floating)):
                txt = mean_std(r, c, decimals.get(c, 4)) or "n/a"
                cls = ' class="best"' if (r.name, c) in marked else ""
                cells.append(f"<td{cls}>{txt}</td>")
            else:
                cells.append(f"<td>{html.escape(str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1180px;color:#222;padding:0 1em}
h1{margin-bottom:.2em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}th,td{padding:.3em .7em;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}thead th{background:#f4f4f4}td.best{font-weight:bold;background:#eef7ee}
.warn{background:#fff4e5;border-left:4px solid #f0a020;padding:.5em 1em;margin:.4em 0}
.note{color:#555;font-size:.9em}img{max-width:100%}figure{margin:1em 0}figcaption{font-size:.85em;color:#555}
.gifs{display:flex;flex-wrap:wrap;gap:1.5em}pre{background:#f7f7f7;padding:1em;overflow-x:auto;font-size:.8em}
"""

# Written into the page by the page itself once it has loaded: how many images decoded and how much the charts
# are shrunk (the browser test reads both back), and any script error (there should be none).
CHECK_JS = """
window.addEventListener('error', function (e) { document.body.setAttribute('data-error', String(e.message)); });
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute('data-images', ok + '/' + imgs.length);
  // the smallest factor by which the page shrinks a chart (its text with it): 1 = shown at its own size
  var scales = imgs.filter(function (i) { return i.className === 'chart' && i.naturalWidth > 0; })
                   .map(function (i) { return i.clientWidth / i.naturalWidth; });
  document.body.setAttribute('data-chart-scale', Math.min.apply(null, scales.concat([1])).toFixed(3));
});
"""


def render_html(title: str, warnings: list[str], notes: list[str], split_tables: dict[str, pd.DataFrame],
                extra_tables: dict[str, list[tuple[str, pd.DataFrame]]], charts: dict[str, list[tuple[str, str]]],
                showcase_traces: list[tuple[str, str]], gifs: list[tuple[str, str]], training_png: str | None,
                provenance_yaml: str, decimals: dict[str, int]) -> str:
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
    parts += [f"<div class='warn'>{w}</div>" for w in warnings]
    parts += [f"<p class='note'>{n}</p>" for n in notes]
    for split, df in split_tables.items():
        parts.append(f"<h2 id='split-{split}'>Split <code>{split}</code></h2>")
        parts.append(_table(df, decimals, HIGHER_IS_BETTER))
        for cap, uri in charts.get(split, []):
            parts.append(f"<figure><img class='chart' alt='{html.escape(cap)}' src='{uri}'><figcaption>"
                         f"{html.escape(cap)}</figcaption></figure>")
        for heading, extra in extra_tables.get(split, []):
            parts.append(f"<h3>{html.escape(heading)}</h3>")
            parts.append(_table(extra, decimals, HIGHER_IS_BETTER))
    if showcase_traces:
        parts.append("<h2 id='traces'>Traces: speaker, true listener, three generated reactions</h2>")
        parts += [f"<figure><img alt='{html.escape(c)}' src='{u}'><figcaption>{html.escape(c)}</figcaption></figure>"
                  for c, u in showcase_traces]
    if gifs:
        parts.append("<h2 id='videos'>Rendered reactions (left: speaker, right: generated listener)</h2><div class='gifs'>")
        parts += [f"<figure><img alt='{html.escape(c)}' src='{u}'><figcaption>{html.escape(c)}</figcaption></figure>"
                  for c, u in gifs]
        parts.append("</div>")
    if training_png:
        parts.append(f"<h2 id='training'>Training</h2><figure><img alt='training losses' src='{training_png}'></figure>")
    parts.append(f"<h2 id='provenance'>Provenance</h2><pre>{html.escape(provenance_yaml)}</pre>")
    parts.append(f"<script>{CHECK_JS}</script></body></html>")
    return "\n".join(parts)


def page(tables: dict[str, pd.DataFrame], extra_tables: dict[str, list[tuple[str, pd.DataFrame]]], notes: list[str],
         untrained: list[str], synthetic: bool, prov: dict[str, Any], showcase: Showcase | None,
         training_png, decimals: dict[str, int]) -> str:
    """The whole report page from the tables and (optionally) a showcase of rows."""
    import re

    import yaml

    def md(text: str) -> str:  # the notes use **bold**, *italics* and `code` only
        text = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", html.escape(text))
        return re.sub(r"`([^`]+)`", r"<code>\1</code>", re.sub(r"\*([^*]+)\*", r"<i>\1</i>", text))

    warnings = [md(n) for n in notes if n.startswith("**")]
    plain = [md(n) for n in notes if not n.startswith("**")]
    charts = {split: [(f"{split}: metrics per method", bar_charts(df, split)),
                      (f"{split}: appropriateness vs diversity", scatter(df, split))] for split, df in tables.items()}
    tr, gifs = [], []
    if showcase is not None:
        tr = traces(showcase)
        if showcase.pred_3dmm is not None:
            for i, row in enumerate(showcase.rows[:2]):
                gifs.append((f"{showcase.split} row {row}: {showcase.method} reaction #1",
                             reaction_gif(showcase.speaker_3dmm[i], showcase.pred_3dmm[i, 0], fps=showcase.fps)))
    train_uri = None
    if training_png is not None and training_png.is_file():
        train_uri = _uri(training_png.read_bytes(), "image/png")
    title = "mafrg report" + (" (synthetic demo data)" if synthetic else "")
    return render_html(title, warnings, plain, tables, extra_tables, charts, tr, gifs, train_uri,
                       yaml.safe_dump(prov, sort_keys=False, allow_unicode=True), decimals)

"""The report's charts are readable: no two pieces of text overlap, however close the methods' values are."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mafrg.report import COLUMNS
from mafrg.report_html import bar_figure, scatter_figure

LABELS = ["GT", "B_Random", "B_Mime", "B_MeanSeq", "B_MeanFr", "NN_motion", "NN_audio", "Random_listener", "Median",
          "EfficientListener_offline", "EfficientListener_online", "ReactDiff_offline", "ReactDiff_online",
          "ReactDiffK_offline", "ReactDiffK_online"]


def drawn_texts(fig) -> list[tuple[str, object]]:
    """(text, window box) of every piece of text the figure draws: visible, non-empty, on a visible axes, and
    for tick labels, inside the axis limits (matplotlib keeps labels of ticks it does not draw)."""
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    hidden = set()
    for ax in fig.axes:
        if not ax.get_visible():
            hidden |= {id(t) for t in ax.findobj(Text)}
            continue
        for labels, i, lim in ((ax.get_xticklabels(), 0, ax.get_xlim()), (ax.get_yticklabels(), 1, ax.get_ylim())):
            lo, hi = sorted(lim)
            eps = 1e-9 * (hi - lo)
            hidden |= {id(t) for t in labels if not lo - eps <= t.get_position()[i] <= hi + eps}
    return [(t.get_text(), t.get_window_extent(renderer)) for t in fig.findobj(Text)
            if t.get_visible() and t.get_text().strip() and id(t) not in hidden]


def overlaps(texts, pad: float = 0.5) -> list[tuple[str, str]]:
    out = []
    for i, (a, ba) in enumerate(texts):
        for b, bb in texts[i + 1:]:
            if (ba.x0 + pad < bb.x1 - pad and bb.x0 + pad < ba.x1 - pad
                    and ba.y0 + pad < bb.y1 - pad and bb.y0 + pad < ba.y1 - pad):
                out.append((a, b))
    return out


def table(close: bool) -> pd.DataFrame:
    """Every demo row; ``close``: all methods score almost alike (the worst case for labels at the data)."""
    rng = np.random.default_rng(0)
    rows = []
    for i, label in enumerate(LABELS):
        row = {"method": label, "seeds": 3 if "_" in label and not label.startswith("B_") else 1}
        for c in COLUMNS:
            base = {"FRCorr": 1.0, "FRDist": 80.0, "FRSyn": 30.0}.get(c, 0.1)
            row[c] = base * (1 + (0.001 * i if close else rng.uniform(-0.8, 0.8)))
            row[f"{c}_std"] = 0.05 * base if row["seeds"] > 1 else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("close", [False, True])
@pytest.mark.parametrize("figure", [bar_figure, scatter_figure])
def test_no_two_texts_overlap(figure, close):
    import matplotlib.pyplot as plt

    fig = figure(table(close), "val")
    texts = drawn_texts(fig)
    names = {t for t, _ in texts}
    assert set(LABELS) - {"GT"} <= names or set(LABELS) <= names  # every method is named somewhere
    assert overlaps(texts) == []
    width, _ = fig.get_size_inches() * fig.dpi
    assert width <= 1100  # shown at its own size in the page (max width 1180 px): no shrinking of the text
    plt.close(fig)


def test_the_check_sees_overlapping_labels():
    """The old charts' labels written at each reference line: the same check finds their overlaps."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set_ylim(0, 2)
    for i, label in enumerate(LABELS[:4]):
        ax.axhline(1 + 0.001 * i)
        ax.annotate(label, (1.0, 1 + 0.001 * i), xycoords=("axes fraction", "data"), fontsize=6)
    assert len(overlaps(drawn_texts(fig))) >= 3
    plt.close(fig)

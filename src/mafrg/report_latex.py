"""A split's report table as LaTeX (booktabs), to paste into a paper.

The layout of the REACT papers: a group header row (Appropriateness, Diversity, ...) with ``\\cmidrule`` under
each group, one column per metric with its direction, the ground truth and baselines first, a rule, then the
model methods. Each column's best model-method value is in bold (:func:`mafrg.report_html.best_cells`: GT and
baselines are references, not contenders). Needs ``\\usepackage{booktabs}`` only.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mafrg.metrics import table as mt
from mafrg.report_html import best_cells, mean_std

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
            "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def escape(text: str) -> str:
    """Text with LaTeX's special characters escaped (method labels such as ``ReactDiff_offline``)."""
    return "".join(_SPECIAL.get(ch, ch) for ch in str(text))


def _cell(r: pd.Series, c: str, decimals: int, best: set[tuple[Any, str]]) -> str:
    txt = mean_std(r, c, decimals, r" \pm ")
    if txt is None:
        return "--"
    return rf"$\mathbf{{{txt}}}$" if (r.name, c) in best else f"${txt}$"


def latex_table(df: pd.DataFrame, split: str, table: str = "react") -> str:
    """The ``tabular`` of one split's table (mean ± std over seeds where there are several)."""
    from mafrg import methods

    groups = mt.groups(table)
    decimals = mt.decimals()
    cols = [m for _, ms in groups for m in ms]
    best = best_cells(df, {m.name: m.higher_is_better for m in cols})
    lines = [
        f"% mafrg report, split {split}: mean ± std over seeds; bold: the best model method per column "
        "(GT and baselines excluded). Needs \\usepackage{booktabs}.",
        r"\begin{tabular}{l" + "r" * len(cols) + "}",
        r"\toprule",
    ]
    heads, rules, start = [], [], 2
    for g, ms in groups:
        heads.append(rf"\multicolumn{{{len(ms)}}}{{c}}{{{escape(g)}}}")
        rules.append(rf"\cmidrule(lr){{{start}-{start + len(ms) - 1}}}")
        start += len(ms)
    lines += [" & " + " & ".join(heads) + r" \\", " ".join(rules)]
    up, down = r"$\uparrow$", r"$\downarrow$"
    arrows = [f"{escape(m.name)} {up if m.higher_is_better else down}" for m in cols]
    lines += ["Method & " + " & ".join(arrows) + r" \\", r"\midrule"]
    refs = set(methods.reference_labels())
    previous_ref = None
    for _, r in df.iterrows():
        ref = r["method"] in refs
        if previous_ref and not ref:
            lines.append(r"\midrule")  # references above, model methods below
        previous_ref = ref
        cells = [_cell(r, m.name, decimals.get(m.name, 4), best) for m in cols]
        lines.append(escape(r["method"]) + " & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"

"""Report tables for papers: the best model-method value of each column marked in Markdown, HTML and LaTeX."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from mafrg.metrics import table as mt
from mafrg.report import COLUMNS, markdown_table, simple_markdown
from mafrg.report_html import _table
from mafrg.report_latex import escape, latex_table


def _df() -> pd.DataFrame:
    """GT and B_Mime hold trivially best values (FRDist 0, FRSyn 6, FRCorr 9.9): never marked. Among the model
    methods, A is best on FRCorr and FRDist, B on FRDiv and FRSyn; FRRea is missing for all."""
    rows = [
        ("GT", 1, dict(FRCorr=9.9, FRDist=0.0, FRDiv=0.0, FRSyn=20.0)),
        ("B_Mime", 1, dict(FRCorr=2.0, FRDist=80.0, FRDiv=0.0, FRSyn=6.0)),
        ("B_Random", 1, dict(FRCorr=0.1, FRDist=150.0, FRDiv=0.17, FRSyn=30.0)),
        ("ReactDiff_offline", 3, dict(FRCorr=0.8, FRDist=70.0, FRDiv=0.02, FRSyn=25.0)),
        ("ReactDiffK_online", 3, dict(FRCorr=0.5, FRDist=75.0, FRDiv=0.05, FRSyn=15.0)),
    ]
    out = []
    for label, seeds, vals in rows:
        row = {"method": label, "seeds": seeds}
        for c in COLUMNS:
            row[c] = vals.get(c, 0.01 if c in ("FRVar", "FRDvs", "FD_behaviour") else np.nan)
            row[f"{c}_std"] = 0.001 if seeds > 1 and c in vals else np.nan
        out.append(row)
    return pd.DataFrame(out, columns=["method", "seeds", *COLUMNS, *[f"{c}_std" for c in COLUMNS]])


def _bold_md(md: str) -> dict[str, list[str]]:
    """{method: [columns whose cell is bold]} from a Markdown table's body rows."""
    out = {}
    for line in md.splitlines()[3:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        out[cells[0]] = [c for c, v in zip(COLUMNS, cells[1:]) if v.startswith("**")]
    return out


def test_markdown_marks_the_best_model_method_per_column_not_references():
    bold = _bold_md(markdown_table(_df()))
    assert bold["GT"] == bold["B_Mime"] == bold["B_Random"] == []
    # ties share the mark (FRVar, FRDvs, FD_behaviour are equal for everyone)
    assert bold["ReactDiff_offline"] == ["FRCorr", "FRDist", "FRVar", "FRDvs", "FD_behaviour"]
    assert bold["ReactDiffK_online"] == ["FRDiv", "FRVar", "FRDvs", "FD_behaviour", "FRSyn"]
    assert "**0.8000 ± 0.0010**" in markdown_table(_df())
    assert "FRRea" not in bold["ReactDiff_offline"]  # n/a is never best
    listener = pd.DataFrame({"method": ["GT", "ReactDiff_offline", "ReactDiffK_online"], "seeds": [1, 1, 1],
                             "FRDist": [0.0, 70.0, 75.0], "FRDist_std": [np.nan] * 3})
    assert "| ReactDiff_offline | **70.0000** |" in simple_markdown(listener)


def test_html_marks_the_same_cells():
    html = _table(_df(), mt.decimals(), mt.higher_is_better())
    rows = re.findall(r"<tr>(.*?)</tr>", html)[1:] if "<tr>" in html else []
    marked = {re.search(r"<td>([^<]+)</td>", r).group(1): r.count('class="best"') for r in rows}
    assert marked == {"GT": 0, "B_Mime": 0, "B_Random": 0, "ReactDiff_offline": 5, "ReactDiffK_online": 5}


def test_latex_booktabs_table():
    tex = latex_table(_df(), "val")
    assert tex.count(r"\toprule") == tex.count(r"\bottomrule") == 1 and tex.count("{tabular}") == 2
    body = [ln for ln in tex.splitlines() if ln.endswith(r"\\")]
    assert all(ln.count("&") == len(COLUMNS) for ln in body[1:]), body  # every row has every column
    assert sum(int(n) for n in re.findall(r"multicolumn\{(\d+)\}", body[0])) == len(COLUMNS)
    assert tex.count("{") == tex.count("}")
    rows = {ln.split(" & ")[0]: ln for ln in body[2:]}
    assert set(rows) == {"GT", r"B\_Mime", r"B\_Random", r"ReactDiff\_offline", r"ReactDiffK\_online"}
    assert rows[r"ReactDiff\_offline"].count(r"\mathbf") == 5 and rows[r"B\_Mime"].count(r"\mathbf") == 0
    assert r"$\mathbf{0.8000 \pm 0.0010}$" in rows[r"ReactDiff\_offline"]
    assert " -- " in rows["GT"]  # n/a
    lines = tex.splitlines()  # references above a rule, model methods below it
    assert lines[lines.index(rows[r"ReactDiff\_offline"]) - 1] == r"\midrule"
    assert r"\multicolumn{2}{c}{Appropriateness}" in tex and r"\cmidrule(lr){2-3}" in tex
    assert r"FRDist $\downarrow$" in tex and r"FD\_behaviour" in tex
    assert escape("a_b & 50% {x}") == r"a\_b \& 50\% \{x\}"

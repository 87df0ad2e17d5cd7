"""Sharded evaluation: per-row contributions of row shards aggregate to exactly the whole-split metrics."""

from __future__ import annotations

import numpy as np
import pytest

from mafrg.methods.baselines import make_baseline
from mafrg.metrics.engine import MetricInputError, aggregate, contributions, evaluate
from mafrg.metrics.shards import read_contributions, write_contributions
from mafrg.sharding import parse_rows, shard_names, shard_ranges
from test_metrics import make_inputs


def test_shard_names_and_ranges():
    assert shard_ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert shard_names(1200, 100)[-1] == "r01100-01200"
    assert parse_rows("r00004-00008") == (4, 8) and parse_rows("3:9") == (3, 9)
    for bad in ("r4-8", "9:3", "x"):
        with pytest.raises(ValueError):
            parse_rows(bad)


@pytest.mark.parametrize("protocol", ["react2024", "corrected"])
def test_shards_aggregate_to_whole_split(tmp_path, protocol):
    pred, listener, speaker, nb = make_inputs(4, 7, 3, 60, smooth=True)
    whole = evaluate(pred, listener, speaker, nb, protocol=protocol, progress=False)
    parts = []
    for i, (a, b) in enumerate(shard_ranges(7, 3)):
        part = contributions(pred[a:b], listener, speaker, nb, a, protocol, chunk_rows=2, progress=False)
        path = tmp_path / f"{i}.parquet"
        write_contributions(path, part, {"protocol": protocol})  # through the files, as the workflow does
        parts.append(read_contributions(path)[0])
    got = aggregate(parts[::-1], 7, protocol)  # order of arrival does not matter
    for k, v in whole.metrics.items():
        assert got.metrics[k] == pytest.approx(v, rel=1e-12, abs=1e-12), k
    for k, v in whole.per_row.items():
        np.testing.assert_array_equal(got.per_row[k], v)


def test_aggregate_rejects_missing_or_repeated_rows():
    pred, listener, speaker, nb = make_inputs(5, 6, 2, 40)
    a = contributions(pred[:3], listener, speaker, nb, 0, progress=False)
    b = contributions(pred[2:5], listener, speaker, nb, 2, progress=False)
    with pytest.raises(MetricInputError, match=r"missing \[5\], repeated \[2\]"):
        aggregate([a, b], 6, "react2024")


def test_shard_outside_split_is_an_error():
    pred, listener, speaker, nb = make_inputs(6, 4, 2, 40)
    with pytest.raises(MetricInputError, match="outside the split's 4 rows"):
        contributions(pred[:3], listener, speaker, nb, 2, progress=False)


def test_random_baseline_does_not_depend_on_sharding():
    sp = np.zeros((5, 30, 25), np.float32)
    whole = make_baseline("B_Random", sp, sp, n_pred=3, seed=11)
    parts = [make_baseline("B_Random", sp[a:b], sp[a:b], n_pred=3, seed=11, start=a) for a, b in shard_ranges(5, 2)]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


@pytest.mark.parametrize("protocol,label", [("react2024", "protocol `react2024`"), ("corrected", "**corrected** protocol")])
def test_report_labels_the_protocol(tmp_path, protocol, label):
    import json

    from mafrg.report import build_report

    pred, listener, speaker, nb = make_inputs(7, 4, 2, 60)
    files = []
    for method, p in (("GT", np.repeat(listener[:, None], 2, axis=1)), ("B_X", pred)):
        res = evaluate(p, listener, speaker, nb, protocol=protocol, progress=False)
        path = tmp_path / f"{method}.json"
        path.write_text(json.dumps(res.to_dict() | {"method": method, "split": "val", "seed": 0}))
        files.append(str(path))
    build_report(files, tmp_path / "report", config={"evaluation": {"protocol": protocol}})
    readme = (tmp_path / "report" / "README.md").read_text()
    assert label in readme and f"protocol `{protocol}`)" in readme  # notes and the table heading
    html = (tmp_path / "report" / "report.html").read_text()
    assert ("corrected" in html) == (protocol == "corrected")

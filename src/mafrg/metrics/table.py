"""The one table of every metric mafrg reports: name, group, direction, scope and display format.

The engine, the evaluation shards, the aggregation and both reports (Markdown/CSV and HTML) read this table,
so a metric is added (or re-grouped, or shown with other decimals) in one place.

* ``scope``: ``row`` metrics are means of per-row contributions (an evaluation shard stores them per row);
  ``split`` metrics compare rows with each other or pool all frames of the split (FRDvs, FD, SI), so a shard
  carries a mergeable state or they are computed over the whole split.
* ``source``: which step computes it: the REACT engine (``engine``), the split-metrics step's realism (``realism``), its
  3DMM listener metrics (``listener``) or the smoothness measures (``smoothness``).
* ``table``: the report table it appears in: the REACT paper-style table or the Efficient Listener table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    group: str
    higher_is_better: bool
    scope: str  # row | split
    source: str  # engine | realism | listener | smoothness
    table: str  # react | listener | smoothness
    decimals: int
    description: str

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"


METRICS: tuple[Metric, ...] = (
    Metric("FRCorr", "Appropriateness", True, "row", "engine", "react", 4,
           "sum over predictions of the best CCC against any appropriate real reaction"),
    Metric("FRDist", "Appropriateness", False, "row", "engine", "react", 4,
           "sum over predictions of the smallest weighted DTW distance to any appropriate real reaction"),
    Metric("FRDiv", "Diversity", True, "row", "engine", "react", 4,
           "S-MSE between the predictions of one speaker clip"),
    Metric("FRVar", "Diversity", True, "row", "engine", "react", 4,
           "variance over time of each prediction"),
    Metric("FRDvs", "Diversity", True, "split", "engine", "react", 4,
           "S-MSE between the reactions to different speaker clips"),
    Metric("FRRea", "Realism", False, "split", "realism", "react", 2,
           "FID of rendered reactions against real listener frames (InceptionV3)"),
    Metric("FD_behaviour", "Realism", False, "split", "realism", "react", 3,
           "Fréchet distance of predicted and real listener frames in emotion + 3DMM space (not FRRea)"),
    Metric("FRSyn", "Synchrony", False, "row", "engine", "react", 2,
           "|offset| of the peak time-lagged cross-correlation with the speaker"),
    Metric("L2_expression", "Accuracy", False, "row", "listener", "listener", 4,
           "per-frame L2 distance to the true listener, 52 expression coefficients"),
    Metric("L2_rotation", "Accuracy", False, "row", "listener", "listener", 4,
           "per-frame L2 distance to the true listener, head rotation"),
    Metric("FD_expression", "Realism", False, "split", "listener", "listener", 4,
           "Fréchet distance of predicted and true listener expression frames"),
    Metric("FD_rotation", "Realism", False, "split", "listener", "listener", 4,
           "Fréchet distance of predicted and true listener rotation frames"),
    Metric("SI", "Diversity", True, "split", "listener", "listener", 4,
           "Shannon index of k-means cluster assignments of predicted expression frames"),
    Metric("SI_rotation", "Diversity", True, "split", "listener", "listener", 4,
           "Shannon index of k-means cluster assignments of predicted head-rotation frames"),
    Metric("TLCC_lag", "Synchrony", False, "row", "listener", "listener", 4,
           "mean |lag| of the peak TLCC between speaker and predicted listener 3DMM"),
    Metric("Vel_3DMM", "Smoothness", False, "split", "smoothness", "smoothness", 4,
           "mean |frame-to-frame change| of the 58 3DMM coefficients (GT row: the true listeners')"),
    Metric("Acc_3DMM", "Smoothness", False, "split", "smoothness", "smoothness", 4,
           "mean |second difference| (acceleration, jitter) of the 3DMM coefficients"),
    Metric("Vel_pose", "Smoothness", False, "split", "smoothness", "smoothness", 4,
           "mean |frame-to-frame change| of the head pose (3DMM 52:58), what ReactDiff-K's kinematics prior targets"),
    Metric("Acc_pose", "Smoothness", False, "split", "smoothness", "smoothness", 4,
           "mean |second difference| of the head pose"),
    Metric("Vel_emotion", "Smoothness", False, "split", "smoothness", "smoothness", 4,
           "mean |frame-to-frame change| of the 25 emotion channels"),
    Metric("Acc_emotion", "Smoothness", False, "split", "smoothness", "smoothness", 4,
           "mean |second difference| of the emotion channels"),
    Metric("ExclAU", "Anatomy", False, "split", "smoothness", "smoothness", 4,
           "share of frames with both AUs of a mutually exclusive pair active (> 0.5), e.g. AU12 with AU15"),
)
BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}


def names(*, source: str | None = None, table: str | None = None, scope: str | None = None) -> tuple[str, ...]:
    """Metric names in table order, filtered by source, report table and/or scope."""
    return tuple(m.name for m in METRICS if (source is None or m.source == source)
                 and (table is None or m.table == table) and (scope is None or m.scope == scope))


def groups(table: str) -> list[tuple[str, list[Metric]]]:
    """(group, metrics) in first-seen order for one report table (the paper-style group header row)."""
    out: dict[str, list[Metric]] = {}
    for m in METRICS:
        if m.table == table:
            out.setdefault(m.group, []).append(m)
    return list(out.items())


def decimals() -> dict[str, int]:
    return {m.name: m.decimals for m in METRICS}


def higher_is_better(table: str | None = None) -> dict[str, bool]:
    return {m.name: m.higher_is_better for m in METRICS if table is None or m.table == table}


ENGINE = names(source="engine")  # the six REACT metrics the engine computes
ENGINE_PER_ROW = names(source="engine", scope="row")  # what an evaluation shard stores per row

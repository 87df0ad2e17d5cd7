"""ReactDiff-K's two priors as training losses (the pair lists and the target layout: :mod:`mafrg.metrics.anatomy`).

Both compare the network's output F with its EDM training target (F* = (x - c_skip * x_noised) / c_out), as the
authors do. Because D - x = c_out * (F - F*) for the denoised estimate D, a difference-of-frames or
difference-of-channels term on F is the same term on D divided by c_out: the priors shape the *denoised* motion
and the facial configuration of the least-noised samples, the only ones they act on.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from mafrg.metrics.anatomy import EMOTION_DIM, POSE, TARGET_DIM, au_pairs, pair_lists  # noqa: F401


def dependency_pairs(which: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Column pairs (i, j) of the 83-column target for prior (ii): ``3dmm`` (the authors' 108 expression pairs),
    ``au`` (mafrg's REACT AU pairs) or ``both``."""
    pairs: list[tuple[int, int]] = []
    if which in ("3dmm", "both"):
        t = pair_lists()["tdmm"]
        pairs += [(EMOTION_DIM + i, EMOTION_DIM + j) for k in ("symmetry", "co_occurred", "exclusive") for i, j in t[k]]
    if which in ("au", "both"):
        pairs += au_pairs("co_occurred") + au_pairs("exclusive")
    if not pairs:
        raise ValueError(f"no dependency pairs for {which!r}")
    i, j = zip(*pairs)
    return torch.tensor(i), torch.tensor(j)


def kinematics_loss(out: torch.Tensor, target: torch.Tensor, window: int, mask: torch.Tensor,
                    pose_scale: float = 10.0, channels: str = "pose") -> torch.Tensor:
    """Prior (i): SmoothL1 between predicted and true first differences of the head pose, frame to frame and
    across one window (divided by the window), x pose_scale; ``out``/``target`` (B, T, 83), ``mask`` (B,) of
    the samples it acts on (the mean runs over the whole batch: other samples add zero, as the authors').
    ``channels="all"`` adds the same terms for every other channel (weight 1, mean over those channels)."""
    if channels == "all":
        rest = kinematics_loss(out[..., : POSE.start], target[..., : POSE.start], window, mask, 1.0, "rest")
        return rest + kinematics_loss(out, target, window, mask, pose_scale, "pose")
    m = mask.to(out.dtype).view(-1, 1, 1)
    o, t = (out[..., POSE], target[..., POSE]) if channels == "pose" else (out, target)
    step = F.smooth_l1_loss(o[:, 1:] - o[:, :-1], t[:, 1:] - t[:, :-1], reduction="none") * m
    loss = step.mean()
    if out.shape[1] > window:
        span = F.smooth_l1_loss(o[:, window:] - o[:, :-window], t[:, window:] - t[:, :-window], reduction="none") * m
        loss = loss + span.mean() / window
    return pose_scale * loss


def dependency_loss(out: torch.Tensor, target: torch.Tensor, pairs: tuple[torch.Tensor, torch.Tensor],
                    mask: torch.Tensor) -> torch.Tensor:
    """Prior (ii): sum over pairs (i, j) of SmoothL1(out_i - out_j, target_i - target_j), mean over frames and
    the batch (zero outside ``mask``)."""
    i, j = pairs
    d = F.smooth_l1_loss(out[..., i] - out[..., j], target[..., i] - target[..., j], reduction="none")  # (B, T, P)
    return (d.sum(-1) * mask.to(out.dtype).view(-1, 1)).mean()

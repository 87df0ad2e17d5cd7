"""The shared training loop: when its resumable state is written, and that resuming from a state written
mid-run ends with the weights of an unbroken run."""

from __future__ import annotations

import pytest
import torch

from mafrg import checkpoint, training
from mafrg.config import TrainConfig


REAL_SAVE = checkpoint.save


class Killed(Exception):
    pass


def _run(workdir, epochs: int, monkeypatch, every: float, stop_after: int | None = None):
    """Train a small regression model; ``stop_after``: raise after that many epochs (a kill)."""
    monkeypatch.setattr(training, "STATE_EVERY_S", every)
    saves = []

    def save(path, kind, *a, **k):
        REAL_SAVE(path, kind, *a, **k)
        if kind == "train_state":
            saves.append(a[1]["epoch"])
            if stop_after is not None and len(saves) > stop_after:
                raise Killed  # right after this state was written

    monkeypatch.setattr(checkpoint, "save", save)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(24, 4, generator=g)
    y = x @ torch.randn(4, 1, generator=g)
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    data = list(zip(x, y))

    def step_loss(m, batch, step):
        return torch.nn.functional.mse_loss(m(batch[0]), batch[1])

    cfg = TrainConfig(epochs=epochs, batch_size=6, lr=1e-2, ema_decay=0.9)
    ema, history = training.train(model, step_loss, lambda ep, tr: training.loader(data, 6, 0, ep, tr), cfg,
                                  workdir, {"t": 1}, progress=False)
    return ema, history, saves


def test_state_is_written_after_the_first_and_last_epoch_and_then_by_time(tmp_path, monkeypatch):
    _, _, saves = _run(tmp_path / "a", 6, monkeypatch, every=1e9)
    assert saves == [0, 5]
    _, _, saves = _run(tmp_path / "b", 6, monkeypatch, every=0.0)
    assert saves == [0, 1, 2, 3, 4, 5]


def test_resuming_from_a_throttled_state_equals_an_unbroken_run(tmp_path, monkeypatch):
    whole, hist_whole, _ = _run(tmp_path / "whole", 6, monkeypatch, every=1e9)
    with pytest.raises(Killed):
        _run(tmp_path / "killed", 6, monkeypatch, every=1e9, stop_after=0)  # killed after the epoch-0 state
    resumed, hist, saves = _run(tmp_path / "killed", 6, monkeypatch, every=1e9)
    assert saves == [1, 5]  # resumed at epoch 1: its first epoch and the last are written
    for a, b in zip(resumed.module.parameters(), whole.module.parameters()):
        assert torch.equal(a, b)
    assert [h["train_loss"] for h in hist] == [h["train_loss"] for h in hist_whole]

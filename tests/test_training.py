"""The shared training loop: when its resumable state is written, that resuming from a state written mid-run
ends with the weights of an unbroken run, and the EMA warm-up."""

from __future__ import annotations

import pytest
import torch

from mafrg import checkpoint, training
from mafrg.config import ConfigError, TrainConfig


REAL_SAVE = checkpoint.save


class Killed(Exception):
    pass


def _run(workdir, epochs: int, monkeypatch, every: float, stop_after: int | None = None, **train):
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

    cfg = TrainConfig(**{"epochs": epochs, "batch_size": 6, "lr": 1e-2, "ema_decay": 0.9, **train})
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


@pytest.mark.parametrize("warmup", [False, True])
def test_resuming_continues_the_ema_warm_up(tmp_path, monkeypatch, warmup):
    """The warm-up's step is the average's own update count, saved with it: a resumed run ends as an unbroken one."""
    kw = {"ema_decay": 0.9999, "ema_warmup": "inverse"} if warmup else {}
    whole, _, _ = _run(tmp_path / "whole", 4, monkeypatch, every=1e9, **kw)
    with pytest.raises(Killed):
        _run(tmp_path / "killed", 4, monkeypatch, every=1e9, stop_after=0, **kw)
    resumed, _, _ = _run(tmp_path / "killed", 4, monkeypatch, every=1e9, **kw)
    for a, b in zip(resumed.module.parameters(), whole.module.parameters()):
        assert torch.equal(a, b)


def test_ema_warm_up_follows_the_inverse_schedule():
    """k-diffusion's EMAWarmup (inv_gamma 1, power 2/3, ceiling 0.9999): 1 - (1 + n)^(-2/3), capped."""
    cfg = TrainConfig(ema_decay=0.9999, ema_warmup="inverse")
    for n in (1, 10, 100, 1000):
        assert training.ema_decay_at(cfg, n) == pytest.approx(1 - (1 + n) ** (-2 / 3))
    assert training.ema_decay_at(cfg, 10**9) == 0.9999
    assert training.ema_decay_at(TrainConfig(ema_decay=0.9999), 1) == 0.9999  # no warm-up: the decay at once


def test_with_the_warm_up_the_saved_weights_come_from_late_training(tmp_path):
    """A short run (60 steps) whose weight moves from 0 to 1 in its first steps and stays there: with a constant
    decay of 0.9999 the saved average is still the weight it started from (torch's average starts as a copy of
    the weights after the first step, 0.2 here, and keeps 0.9999^59 of it); with the warm-up it is the trained
    weight."""
    def run(**kw):
        torch.manual_seed(0)
        model = torch.nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            model.weight.zero_()
        data = [(torch.ones(1), torch.ones(1))] * 60

        def step_loss(m, batch, step):
            return ((m.weight - 1.0) ** 2).sum()

        cfg = TrainConfig(epochs=1, batch_size=1, lr=0.2, weight_decay=0.0, ema_decay=0.9999, val_fraction=0.0, **kw)
        ema, _ = training.train(model, step_loss, lambda ep, tr: training.loader(data, 1, 0, ep, tr) if tr else [],
                                cfg, tmp_path / str(kw), {"t": 1}, progress=False)
        return model.weight.item(), ema.module.weight.item()

    final, constant = run()
    assert final > 0.9
    assert constant < 0.25  # the weight after step 1, barely moved
    _, warm = run(ema_warmup="inverse")
    assert warm > 0.8 and abs(warm - final) < 0.15


def test_bf16_training_computes_the_loss_in_bfloat16_and_keeps_float32_weights(tmp_path):
    """TrainConfig.precision bf16: the network's matmuls run in bfloat16 (the loss sees bf16 activations), the
    weights, their gradients and the saved average stay float32, and the run still learns."""
    seen = []

    def run(precision):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1))
        x = torch.randn(64, 4)
        y = x.sum(1, keepdim=True)
        data = [(x[i], y[i]) for i in range(64)]

        def step_loss(m, batch, step):
            out = m(batch[0])
            seen.append(out.dtype)
            return ((out.float() - batch[1]) ** 2).mean()

        cfg = TrainConfig(epochs=30, batch_size=16, lr=1e-2, weight_decay=0.0, ema_decay=0.5, val_fraction=0.0,
                          precision=precision)
        ema, hist = training.train(model, step_loss, lambda ep, tr: training.loader(data, 16, 0, ep, tr) if tr else [],
                                   cfg, tmp_path / precision, {"t": 1}, progress=False)
        return ema.module, hist

    full, h32 = run("fp32")
    assert set(seen) == {torch.float32}
    seen.clear()
    half, h16 = run("bf16")
    assert set(seen) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in half.parameters())
    assert h16[-1]["train_loss"] < 0.2 * h16[0]["train_loss"]  # it learns
    assert not all(torch.equal(a, b) for a, b in zip(full.parameters(), half.parameters()))
    with pytest.raises(ConfigError, match="precision"):
        from mafrg.methods import get
        from mafrg.methods.settings import resolve

        resolve(get("ReactDiffK"), {"preset": "demo", "train": {"precision": "fp8"}})

"""The resumable training loop every trained method uses.

AdamW (betas and weight decay from config), an EMA of the weights (``torch.optim.swa_utils``), a seed, and a
state checkpoint written atomically after every epoch with model, EMA, optimiser and RNG states. A killed run
started again with the same settings continues from the last finished epoch and ends with the same weights as
an uninterrupted run (the data order of epoch e depends only on (seed, e)). Losses go to a CSV (and
TensorBoard when it is installed). States are :mod:`mafrg.checkpoint` files: read with ``weights_only=True``;
a corrupt state is reported and training starts over instead of failing.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import random
import resource
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from mafrg.progress import tqdm

from mafrg import checkpoint
from mafrg.atomic import atomic_path
from mafrg.devices import autocast
from mafrg.config import TrainConfig  # noqa: F401 - re-exported: the stage settings this loop runs
from mafrg.provenance import config_hash

log = logging.getLogger(__name__)


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    # cuBLAS is deterministic only with a fixed workspace; the variable must be set before its first use.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too
    torch.use_deterministic_algorithms(True, warn_only=True)


def split_digest(data) -> str:
    """A short hash of an assembled split's arrays and row order (SplitArrays or ClipArrays): what a training run
    saw."""
    h = hashlib.sha256()
    arrays = ((data.offsets, data.emotion, data.tdmm, data.speaker_index, data.listener_index)
              if data.ragged else
              (data.speaker_emotion, data.listener_emotion, data.speaker_tdmm, data.listener_tdmm))
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(repr([(r.speaker, r.listener) for r in data.rows]).encode())
    return h.hexdigest()[:16]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def held_out(key: str, fraction: float) -> bool:
    """Whether a training item (by a stable key, e.g. its clip path) is held out for validation: a fixed hash,
    so adding recordings never moves an item between the two."""
    h = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return h < fraction


def split_items(items: list, key, fraction: float) -> tuple[list, list]:
    train = [x for x in items if not held_out(key(x), fraction)]
    val = [x for x in items if held_out(key(x), fraction)]
    if not train:  # tiny sets: keep at least one training item
        train, val = val[:1], val[1:]
    return train, val


def long_enough(items: list, length: Callable[[Any], int], name: Callable[[Any], str], need: int, setting: str,
                where: str | Path) -> list:
    """The training items of at least ``need`` frames (clips of any length: one crop or clip of ``setting``);
    those left out are logged with an example, none left is an error naming the split and the setting."""
    short = [it for it in items if length(it) < need]
    if short:
        log.warning("%d training item(s) shorter than %s (%d frames) left out, e.g. %s", len(short), setting, need,
                    name(short[0]))
    kept = [it for it in items if length(it) >= need]
    if not kept:
        raise ValueError(f"{where}: no training item has the {need} frames of {setting}; lower it")
    return kept


def loader(dataset, batch_size: int, seed: int, epoch: int, shuffle: bool, num_workers: int = 0):
    """A DataLoader whose order depends only on (seed, epoch): resumed runs see the same batches."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=g,
                                       num_workers=num_workers)


def _rng_state() -> dict[str, Any]:
    """Every generator a training step may draw from. On a GPU, noise and dropout draw from the CUDA
    generators: without their state a resumed run would not end with an uninterrupted run's weights."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    st = {"torch": torch.get_rng_state(), "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos),
                                                    int(has_gauss), float(gauss)], "python": random.getstate()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def _set_rng_state(st: dict[str, Any]) -> None:
    torch.set_rng_state(st["torch"].cpu())
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in st["cuda"]])
    name, keys, pos, has_gauss, gauss = st["numpy"]
    np.random.set_state((name, keys.cpu().numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(st["python"])


class TrainingError(ValueError):
    """A training stage cannot produce a trained model (the message says why)."""


# The resumable state is written after the first epoch of a run, then at most every STATE_EVERY_S seconds, and
# after the last epoch: a kill loses at most this much training. (Written after every one of the demo DDIM's
# 600 sub-second epochs, it cost 28 s of a 270 s stage.)
STATE_EVERY_S = 30.0


def ema_decay_at(cfg: TrainConfig, step: int) -> float:
    """The EMA decay applied at optimiser step ``step`` (1 = the first update after the copy of the initial
    weights): ``ema_decay``, or with ``ema_warmup: inverse`` min(ema_decay, 1 - (1 + step / inv_gamma) ** -power)."""
    if cfg.ema_warmup == "none":
        return cfg.ema_decay
    return min(cfg.ema_decay, max(0.0, 1.0 - (1.0 + step / cfg.ema_inv_gamma) ** -cfg.ema_power))


def ema_update(cfg: TrainConfig):
    """The AveragedModel update for ``cfg``: torch's constant-decay EMA, or the warm-up schedule, whose step is
    the AveragedModel's own update count (saved with its state, so a resumed run continues the schedule)."""
    if cfg.ema_warmup == "none":
        return get_ema_multi_avg_fn(cfg.ema_decay)

    @torch.no_grad()
    def update(ema_params, model_params, num_averaged):
        decay = ema_decay_at(cfg, int(num_averaged))
        for e, m in zip(ema_params, model_params):
            e.lerp_(m, 1.0 - decay)

    return update


def train(
    model: torch.nn.Module,
    step_loss: Callable[[torch.nn.Module, Any, int], torch.Tensor],
    make_loader: Callable[[int, bool], Any],
    cfg: TrainConfig,
    workdir: Path,
    identity: dict[str, Any],
    progress: bool = True,
    seed: int | None = None,
) -> tuple[AveragedModel, list[dict[str, float]]]:
    """Train ``model``; ``make_loader(epoch, train)`` yields batches; ``step_loss(model, batch, step)`` -> loss
    (step < 0 in validation).

    ``identity`` (``TrainContext.resume_identity``: stage, code, settings, data) must match for a state to be
    resumed. ``seed`` defaults to cfg.seed.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    dev = device()
    model.to(dev)
    seed_everything(cfg.seed if seed is None else seed)  # the caller seeds too, before building the model
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    ema = AveragedModel(model, multi_avg_fn=ema_update(cfg))
    state_path = workdir / "last.pt"
    ident = config_hash({"train": asdict(cfg), "seed": seed, **identity})
    history: list[dict[str, float]] = []
    start = 0
    step = 0
    if state_path.exists():
        try:
            st, meta = checkpoint.load(state_path, kind="train_state", map_location=str(dev))
        except checkpoint.CheckpointError as exc:
            log.warning("cannot resume: %s; training from the start", exc)
            st, meta = None, {}
        if st is not None and meta.get("identity") == ident:
            model.load_state_dict(st["model"])
            ema.load_state_dict(st["ema"])
            opt.load_state_dict(st["optimizer"])
            _set_rng_state(st["rng"])
            history = meta["history"]
            start = meta["epoch"] + 1
            step = meta["step"]
            log.info("resuming from %s: epoch %d of %d done", state_path, start, cfg.epochs)
        elif st is not None:
            log.info("ignoring %s: it was made with other code, settings or data; training from the start", state_path)
    writer = _tensorboard(workdir)
    last_save = time.monotonic()
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        model.train()
        losses = []
        for batch in tqdm(make_loader(epoch, True), desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch",
                          disable=not progress, leave=False):
            with autocast(dev, cfg.precision):
                loss = step_loss(model, batch, step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            ema.update_parameters(model)
            losses.append(float(loss.detach()))
            step += 1
        with autocast(dev, cfg.precision):
            val = _validate(ema.module, step_loss, make_loader(epoch, False))
        row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else float("nan"),
               "val_loss": val, "seconds": time.perf_counter() - t0, "peak_rss_mb": peak_rss_mb()}
        history.append(row)
        log.info("epoch %d: train %.4f val %.4f (%.1f s, peak RSS %.0f MB)", row["epoch"], row["train_loss"],
                 val, row["seconds"], row["peak_rss_mb"])
        if writer is not None:
            writer.add_scalar("loss/train", row["train_loss"], epoch + 1)
            writer.add_scalar("loss/val", val, epoch + 1)
        if epoch in (start, cfg.epochs - 1) or time.monotonic() - last_save >= STATE_EVERY_S:
            checkpoint.save(state_path, "train_state",
                            {"model": model.state_dict(), "ema": ema.state_dict(), "optimizer": opt.state_dict(),
                             "rng": _rng_state()},
                            {"identity": ident, "epoch": epoch, "history": history, "step": step})
            last_save = time.monotonic()
    if step == 0:
        raise TrainingError(f"{workdir}: training ran zero optimiser steps ({cfg.epochs} epochs, batch size "
                            f"{cfg.batch_size}): no epoch yielded a batch, so nothing was learned")
    return ema, history


@torch.no_grad()
def _validate(model, step_loss, loader) -> float:
    model.eval()
    vals = [float(step_loss(model, b, -1)) for b in loader]
    return float(np.mean(vals)) if vals else float("nan")


def _tensorboard(workdir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # noqa: BLE001 - tensorboard is optional
        return None
    return SummaryWriter(str(workdir / "tensorboard"))


def write_losses(path: str | Path, history: list[dict[str, float]]) -> None:
    with atomic_path(path, suffix=".csv") as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["epoch", "train_loss", "val_loss", "seconds", "peak_rss_mb"])
            w.writeheader()
            w.writerows(history)

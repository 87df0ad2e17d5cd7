"""Efficient Listener's one training stage (perception and ELNet end to end) and its generation."""

from __future__ import annotations

import contextlib

import logging
from typing import Any

import numpy as np
import torch

from mafrg import checkpoint
from mafrg.methods.contract import GenerationContext, TrainContext, to_jsonable
from mafrg.methods.efficient_listener import data as eld
from mafrg.methods.efficient_listener.config import ELConfig
from mafrg.methods.efficient_listener.model import (
    TARGET_DIM, FacialActionDiffusion, clip_condition, log_mel, n_clips, slot_condition,
)
from mafrg.methods.settings import merge
from mafrg.moments import moments
from mafrg.predictions import Reactions
from mafrg.provenance import code_version, package_versions
from mafrg.training import (
    device, loader, long_enough, peak_rss_mb, seed_everything, split_digest, split_items, train, write_losses,
)

log = logging.getLogger(__name__)
KIND = "efficient_listener.fad"
SAMPLE_RATE = 16000


def batch_condition(model: FacialActionDiffusion, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """A training batch's clip conditions: the l shown speaker frames of each clip through perception."""
    b, l = batch["target"].shape[:2]
    frames = batch["frames"].flatten(0, 1) if "frames" in batch else None
    mel = batch["mel"].flatten(0, 1) if "mel" in batch else None
    feats = model.perception(frames, mel).reshape(b, l * model.perception.dim)
    return slot_condition(feats, batch["flags"])


def _flat(mel: np.ndarray) -> np.ndarray:
    """(frames, windows, n_mels) log-mel -> (frames, windows * n_mels): the values the perception standardises."""
    return np.asarray(mel).reshape(len(mel), -1)


def train_fad(ctx: TrainContext) -> dict[str, Any]:
    cfg: ELConfig = ctx.config
    tc = cfg.train
    data = ctx.train_data
    ragged = data.ragged
    frames = None if ragged else data.speaker_emotion.shape[1]
    its = eld.items(data)
    if ragged:  # clips of any length: those shorter than one clip cannot train (named, then left out)
        its = long_enough(its, lambda it: len(it.emotion), lambda it: it.speaker, cfg.elnet.clip,
                          "methods.EfficientListener.elnet.clip", ctx.paths.split_data("train"))
    elif frames < cfg.elnet.clip:
        raise ValueError(f"{ctx.paths.split_data('train')}: clips of {frames} frames are shorter than one "
                         f"Efficient Listener clip ({cfg.elnet.clip})")
    tr, va = split_items(its, lambda it: it.speaker, tc.val_fraction)
    length = {it.speaker: len(it.emotion) for it in its}  # a speaker clip is read to its pair's common length
    sources = eld.Sources(ctx.media, ctx.paths.cache("efficient_listener", "train"), length.__getitem__, ctx.fps,
                          cfg, SAMPLE_RATE)
    sources.prepare(sorted({it.speaker for it in its}), ctx.progress)
    seed = tc.seed + ctx.seed
    seed_everything(seed)
    model = FacialActionDiffusion(cfg)
    # Training-set statistics out of core (one dask task per item: mafrg.moments), never the concatenated set.
    if cfg.perception.audio:
        mel = moments([lambda it=it: _flat(sources.mel_of(it.speaker)) for it in tr], ctx.threads,
                      "log-mel statistics", ctx.progress)
        model.perception.set_mel_stats(torch.from_numpy(mel.mean).float(), torch.from_numpy(mel.std(ddof=1)).float())
    target = moments([lambda it=it: {"emotion": it.emotion, "tdmm": it.tdmm} for it in tr], ctx.threads)
    model.set_target_range(torch.from_numpy(np.concatenate([target["emotion"].lo, target["tdmm"].lo])).float(),
                           torch.from_numpy(np.concatenate([target["emotion"].hi, target["tdmm"].hi])).float())
    sched = model.scheduler()
    dev = device()
    log.info("Efficient Listener: %d training items (rows x 2 directions), %d held out, %d clips of %d frames "
             "per item and epoch, %s params", len(tr), len(va), cfg.clips_per_row, cfg.elnet.clip,
             f"{sum(p.numel() for p in model.parameters()):,}")
    datasets: list[eld.ClipSamples] = []

    def make_loader(epoch: int, is_train: bool):
        part = tr if is_train else va
        if not part:
            return []
        ds = eld.ClipSamples(part, sources, cfg, seed, epoch if is_train else 1_000_000, cfg.clips_per_row)  # val: fixed clips
        datasets.append(ds)
        return loader(ds, tc.batch_size, seed, epoch, is_train, tc.num_workers)

    def step_loss(m, batch, step):
        batch = {k: v.to(dev) for k, v in batch.items()}
        g = torch.Generator(device=dev).manual_seed(0) if step < 0 else None  # comparable val losses
        return m.loss(batch["target"], batch_condition(m, batch), sched, g)

    identity = ctx.resume_identity(config=to_jsonable(cfg), data=split_digest(data))
    ema, history = train(model, step_loss, make_loader, tc, ctx.workdir, identity, ctx.progress, seed=seed)
    loaded = sum(d.loaded_frames for d in datasets)
    seconds = sum(d.load_seconds for d in datasets)
    loading = {"frames": loaded, "seconds": round(seconds, 3),
               "frames_per_s": round(loaded / seconds, 1) if seconds else None, "source": cfg.frame_source}
    if loaded:
        log.info("data loading: %d speaker frames in %.1f s (%.0f frames/s, %s)", loaded, seconds,
                 loading["frames_per_s"] or 0, cfg.frame_source)
    meta = {"config": to_jsonable(cfg), "frames": frames, "seed": seed, "history": history,
            "data_digest": identity["data"], "data_loading": loading, "code_version": code_version(),
            "packages": package_versions(), "peak_rss_mb": peak_rss_mb()}
    checkpoint.save(ctx.out, KIND, {"model": ema.module.state_dict()}, meta)
    write_losses(ctx.losses, history)
    return meta


def load_model(path) -> tuple[FacialActionDiffusion, dict[str, Any]]:
    return checkpoint.load_model(
        path, KIND, lambda meta: FacialActionDiffusion(merge(ELConfig(), meta["config"], "checkpoint config")))


@torch.no_grad()
def react(model: FacialActionDiffusion, t: int, frames: np.ndarray | None, samples: np.ndarray | None, n_pred: int,
          online: bool, steps: int, seed: int, fps: int = 25, chunk: int = 256, amp=None
          ) -> tuple[np.ndarray, np.ndarray]:
    """n_pred reactions (emotion (n, t, 25), 3DMM (n, t, 58)) to one speaker of t frames, any t: frames (t, S, S,
    3) uint8 and audio (floor(t * sr / fps),) float32. Every clip of the sequence and every reaction is one batch
    (the paper's clip batching); a clip's noise is drawn up front from ``seed`` (on the CPU, whatever the network's
    device), so batching does not change the result. The network runs on its own device under ``amp``."""
    dev = next(model.parameters()).device
    cfg = model.cfg
    p, l = cfg.perception, cfg.elnet.clip
    c = n_clips(t, l)
    pad = c * l - t  # the last partial clip repeats the speaker's last frame (future only: causality holds)
    mel = None
    if p.audio:
        mel = log_mel(torch.from_numpy(np.asarray(samples, np.float32)), t, fps, SAMPLE_RATE, p.n_mels, p.mel_windows)
        mel = torch.cat([mel, mel[-1:].expand(pad, -1, -1)]) if pad else mel
    vid = None
    if p.video:
        vid = torch.from_numpy(np.ascontiguousarray(frames))
        vid = torch.cat([vid, vid[-1:].expand(pad, -1, -1, -1)]) if pad else vid
    with amp if amp is not None else contextlib.nullcontext():
        per_frame = torch.cat([model.perception(None if vid is None else vid[i : i + chunk].to(dev),
                                                None if mel is None else mel[i : i + chunk].to(dev))
                               for i in range(0, c * l, chunk)])
        cond = clip_condition(per_frame[None], l, online)[0]  # (C, cond_dim)
        g = torch.Generator().manual_seed(seed)
        noise = torch.randn(n_pred, c, l, TARGET_DIM, generator=g).to(dev)
        out = model.sample(cond.repeat(n_pred, 1), noise.flatten(0, 1), steps, g).reshape(n_pred, c * l, -1)[:, :t]
    out = out.float().cpu()
    return out[..., :25].numpy().astype(np.float32), out[..., 25:].numpy().astype(np.float32)


def generate(ctx: GenerationContext, variant: str) -> Reactions:
    """Reactions for rows ``ctx.rows``, one row at a time (a row's clips and reactions are already one batch);
    row k's noise comes from its own seed (independent of sharding)."""
    model, meta = load_model(ctx.checkpoint("fad"))
    model = model.to(ctx.torch_device)
    cfg: ELConfig = model.cfg
    steps = ctx.config.fad.sample_steps  # a sampling setting: from the run's config, not the checkpoint

    def sample(k: int, _: int) -> tuple[np.ndarray, np.ndarray]:
        sp = ctx.speaker(k)
        video = sp.video(cfg.perception.image_size) if cfg.perception.video else None
        audio = sp.audio(SAMPLE_RATE) if cfg.perception.audio else None
        e, d = react(model, sp.frames, video, audio, ctx.n_predictions, variant == "online", steps, ctx.sample_seed(k),
                     ctx.fps, amp=ctx.autocast())
        return e[None], d[None]

    return ctx.in_blocks(1, variant, sample)

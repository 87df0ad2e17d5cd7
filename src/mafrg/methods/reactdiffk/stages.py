"""ReactDiff-K's one training stage and its window-by-window generation."""

from __future__ import annotations

import contextlib

import logging
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from mafrg import checkpoint
from mafrg.methods.contract import GenerationContext, TrainContext, to_jsonable
from mafrg.methods.reactdiffk import data as kd
from mafrg.methods.reactdiffk.config import EDMConfig, ReactDiffKConfig
from mafrg.methods.reactdiffk.edm import draw_sigmas, sample_window, training_loss
from mafrg.methods.reactdiffk.model import ONLINE, OFFLINE, ReactDiffK, WindowCondition, modalities, token_mask
from mafrg.methods.reactdiffk.priors import EMOTION_DIM, POSE
from mafrg.methods.settings import merge
from mafrg.moments import moments
from mafrg.predictions import Reactions
from mafrg.provenance import code_version, package_versions
from mafrg.training import (
    device, loader, long_enough, peak_rss_mb, seed_everything, split_digest, split_items, train, write_losses,
)

log = logging.getLogger(__name__)
KIND = "reactdiffk.edm"


def _stats(blocks, threads: int, desc: str, progress: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-column mean and standard deviation over the frames of several (T, D) arrays, each given by a loader
    (out of core, one dask task per array: :func:`mafrg.moments.moments`)."""
    m = moments(blocks, threads, desc, progress)
    return torch.from_numpy(m.mean).float(), torch.from_numpy(m.std()).float()


def train_edm(ctx: TrainContext) -> dict[str, Any]:
    cfg: ReactDiffKConfig = ctx.config
    tc = cfg.train
    data = ctx.train_data
    its = kd.items(data)
    ragged = data.ragged
    frames = None if ragged else data.speaker_emotion.shape[1]
    if ragged:  # clips of any length: those shorter than one crop cannot train (named, then left out)
        its = long_enough(its, lambda it: len(it.target), lambda it: it.speaker, cfg.crop, "methods.ReactDiffK.crop",
                          ctx.paths.split_data("train"))
    elif frames < cfg.crop:
        raise ValueError(f"{ctx.paths.split_data('train')}: clips of {frames} frames are shorter than one "
                         f"ReactDiff-K training crop ({cfg.crop}); lower methods.ReactDiffK.crop")
    tr, va = split_items(its, lambda it: it.speaker, tc.val_fraction)
    if not tr:
        raise ValueError(f"{ctx.paths.split_data('train')}: every training item went to the held-out part "
                         f"(train.val_fraction {tc.val_fraction}); lower it or add training clips")
    length = {it.speaker: len(it.target) for it in its}
    audio = kd.audio_cache(ctx.feature_file, ctx.paths.cache("reactdiffk", "train"),
                           (lambda rel: length[rel]) if ragged else (lambda rel: frames))
    if "audio" in modalities(cfg):  # the stream's width follows the frame rate (1536 at 25 fps, 768 at 30)
        got = audio(tr[0].speaker).shape[1]
        if got != cfg.audio_width:
            log.info("ReactDiff-K: the training wav2vec2 stream has %d values a frame; audio_width %d -> %d",
                     got, cfg.audio_width, got)
            cfg = replace(cfg, audio_width=got)
    seed = tc.seed + ctx.seed
    seed_everything(seed)
    model = ReactDiffK(cfg)
    model.set_stats("target", *_stats([lambda it=it: it.target for it in tr], ctx.threads, "target statistics",
                                      False))
    streams = {"tdmm": lambda it: it.speaker_tdmm, "emotion": lambda it: it.speaker_emotion,
               "audio": lambda it: audio(it.speaker)}
    for s in modalities(cfg):
        model.set_stats(s, *_stats([lambda it=it, s=s: streams[s](it) for it in tr], ctx.threads,
                                   f"{s} statistics", ctx.progress and s == "audio"))
    dev = device()
    log.info("ReactDiff-K: %d training items (rows x 2 directions), %d held out, %d crops of %d frames per item "
             "and epoch, %s params", len(tr), len(va), cfg.crops_per_row, cfg.crop,
             f"{sum(p.numel() for p in model.parameters()):,}")

    def make_loader(epoch: int, is_train: bool):
        part = tr if is_train else va
        if not part:
            return []
        ds = kd.Crops(part, audio, cfg, frames, seed, epoch if is_train else 1_000_000)  # val: fixed crops
        return loader(ds, tc.batch_size, seed, epoch, is_train, tc.num_workers)

    def step_loss(m, batch, step):
        batch = {k: v.to(dev) for k, v in batch.items()}
        g = torch.Generator(device=dev).manual_seed(0 if step < 0 else seed * 7919 + step)
        x = m.standardise("target", batch["target"])
        sigma, mask = draw_sigmas(len(x), cfg.edm, cfg.priors.fraction, g, dev)
        noise = torch.randn(x.shape, generator=g, device=dev)
        return training_loss(m, x, kd.batch_condition(m, batch), sigma, mask, noise)

    identity = ctx.resume_identity(config=to_jsonable(cfg), data=split_digest(data))
    ema, history = train(model, step_loss, make_loader, tc, ctx.workdir, identity, ctx.progress, seed=seed)
    meta = {"config": to_jsonable(cfg), "frames": frames, "seed": seed, "history": history,
            "data_digest": identity["data"], "code_version": code_version(), "packages": package_versions(),
            "peak_rss_mb": peak_rss_mb()}
    checkpoint.save(ctx.out, KIND, {"model": ema.module.state_dict()}, meta)
    write_losses(ctx.losses, history)
    return meta


def load_model(path) -> tuple[ReactDiffK, dict[str, Any]]:
    return checkpoint.load_model(
        path, KIND, lambda meta: ReactDiffK(merge(ReactDiffKConfig(), meta["config"], "checkpoint config")))


def momentum_blend(x0: torch.Tensor, prev: torch.Tensor, m: float) -> torch.Tensor:
    """The authors' head-pose smoothing across windows (standardised units): translation pulled towards the
    previous window's last frame with weight m, rotation with m / 2."""
    if m == 0:
        return x0
    x0 = x0.clone()
    rot = slice(POSE.start, POSE.start + 3)
    trans = slice(POSE.start + 3, POSE.stop)
    x0[..., trans] = m * prev[:, None, trans] + (1 - m) * x0[..., trans]
    x0[..., rot] = m / 2 * prev[:, None, rot] + (1 - m / 2) * x0[..., rot]
    return x0


@torch.no_grad()
def react(model: ReactDiffK, speakers: list[dict[str, np.ndarray]], n_pred: int, online: bool, steps: int,
          scale: float, seeds: list[int], momentum: float | None = None,
          edm: EDMConfig | None = None, amp=None) -> tuple[np.ndarray, np.ndarray]:
    """n_pred reactions to each of R speakers ({stream: (T, dim)}, all of one length): emotion (R, n, T, 25) and
    3DMM (R, n, T, 58), window after window, each from fresh noise and the previous window's last frame. The R x n
    reactions are sampled as one batch (per-call overhead dominates a 16-frame window: docs/methods/reactdiffk.md,
    generation speed); reaction j of speaker r draws its noise from its own generator (seeds[r], j) only, on the
    CPU whatever the network's device; the network runs on its own device under ``amp``."""
    dev = next(model.parameters()).device
    cfg = model.cfg
    w, names = cfg.window, modalities(cfg)
    t = len(speakers[0]["tdmm"])
    if any(len(sp["tdmm"]) != t for sp in speakers):
        raise ValueError("react: speakers of one batch must have the same number of frames")
    r = len(speakers)
    b = r * n_pred
    n_win = -(-t // w)
    spk = [{s: model.standardise(s, torch.from_numpy(np.array(sp[s], np.float32)).to(dev)).cpu().numpy()
            for s in names} for sp in speakers]
    off = torch.as_tensor(kd.offsets(cfg)).expand(b, -1).to(dev)
    mode = torch.full((b,), ONLINE if online else OFFLINE, device=dev)
    gens = [torch.Generator().manual_seed(seed * 1_000_003 + j) for seed in seeds for j in range(n_pred)]
    prev = torch.zeros(b, model.target_mean.numel(), device=dev)
    has_prev = torch.zeros(b, dtype=torch.bool, device=dev)
    m = cfg.momentum if momentum is None else momentum
    out = []
    for i in range(n_win):
        tokens, valid = {}, None
        for s in names:
            spans = [kd.window_span(x[s], np.array([i * w]), w, cfg.context) for x in spk]
            tokens[s] = torch.from_numpy(np.concatenate([sp for sp, _ in spans])).repeat_interleave(n_pred, 0).to(dev)
            valid = torch.from_numpy(np.concatenate([v for _, v in spans])).repeat_interleave(n_pred, 0).to(dev)
        mask = token_mask(valid, off, w, mode, torch.ones(b, dtype=torch.bool, device=dev))
        with amp if amp is not None else contextlib.nullcontext():
            cond = WindowCondition(prev, has_prev, model.net.speaker_tokens(tokens, off), mask, mode)
            x0 = sample_window(model, cond, w, steps, scale, gens, edm)
        if i:
            x0 = momentum_blend(x0, prev, m)
        out.append(x0)
        prev, has_prev = x0[:, -1], torch.ones(b, dtype=torch.bool, device=dev)
    x = model.destandardise_target(torch.cat(out, dim=1)[:, :t]).float().cpu().numpy().astype(np.float32)
    x = x.reshape(r, n_pred, t, -1)
    return x[..., :EMOTION_DIM], x[..., EMOTION_DIM:]


def speaker_streams(sp, cfg: ReactDiffKConfig) -> dict[str, np.ndarray]:
    out = {"tdmm": sp.tdmm, "emotion": sp.emotion}
    out["audio"] = sp.features(["wav2vec2"])["wav2vec2"][: sp.frames].astype(np.float32)
    return {s: out[s] for s in modalities(cfg)}


def generate(ctx: GenerationContext, variant: str) -> Reactions:
    """Reactions for rows ``ctx.rows``, sampled in fixed blocks of ``generate_rows`` rows; row k's noise comes from
    its own seed (independent of sharding)."""
    model, _ = load_model(ctx.checkpoint("edm"))
    model = model.to(ctx.torch_device)
    run: ReactDiffKConfig = ctx.config  # sampling settings come from the run's config, not the checkpoint

    def sample(a: int, z: int) -> tuple[np.ndarray, np.ndarray]:
        speakers = [speaker_streams(ctx.speaker(k), model.cfg) for k in range(a, z)]
        return react(model, speakers, ctx.n_predictions, variant == "online", run.edm.sample_steps,
                     run.guidance.scale, [ctx.sample_seed(k) for k in range(a, z)], run.momentum, run.edm,
                     ctx.autocast())

    return ctx.in_blocks(run.generate_rows, variant, sample)

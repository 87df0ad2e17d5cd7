"""ReactDiff's two training stages (the MMT, then the latent DDIM with the MMT frozen) and its generation."""

from __future__ import annotations

import contextlib

import logging
from typing import Any

import numpy as np
import torch
from mafrg.progress import tqdm

from mafrg import checkpoint
from mafrg.methods.contract import GenerationContext, TrainContext, to_jsonable
from mafrg.methods.reactdiff import data as rd
from mafrg.methods.reactdiff.config import ReactDiffConfig
from mafrg.methods.reactdiff.diffusion import LatentDiffusion
from mafrg.methods.reactdiff.mmt import MMT, mmt_loss, n_windows
from mafrg.methods.settings import merge
from mafrg.predictions import Reactions
from mafrg.provenance import code_version, file_sha256, package_versions
from mafrg.training import device, loader, long_enough, peak_rss_mb, seed_everything, train, write_losses

log = logging.getLogger(__name__)


def _causal_for_step(step: int, fraction: float) -> bool:
    """A fixed pseudo-random choice per step (reproducible, also after resuming)."""
    return step >= 0 and ((step * 2654435761) % 4096) / 4096.0 < fraction


def _to(batch: dict[str, torch.Tensor], dev) -> dict[str, torch.Tensor]:
    return {k: v.to(dev) for k, v in batch.items()}


def _config_of(meta: dict[str, Any]) -> ReactDiffConfig:
    return merge(ReactDiffConfig(), meta["config"], "checkpoint config")


def train_mmt(ctx: TrainContext) -> dict[str, Any]:
    cfg: ReactDiffConfig = ctx.config
    tc = cfg.train_mmt
    data = ctx.train_data
    ragged = data.ragged
    frames = None if ragged else data.speaker_emotion.shape[1]  # clips of any length: crops of cfg.crop frames
    items = rd.person_clips(data, ctx.feature_file)
    if ragged:
        items = long_enough(items, lambda it: len(it.emotion), lambda it: it.rel, cfg.crop, "methods.ReactDiff.crop",
                            ctx.paths.split_data("train"))
    tr, va = rd.split_items(items, lambda it: it.rel, tc.val_fraction)
    dims = rd.stream_dims(items[0].path)
    seed = tc.seed + ctx.seed
    seed_everything(seed)  # before the model is built: initial weights follow the seed
    log.info("MMT: %d training clips, %d held out, %s frames, seed %d", len(tr), len(va),
             f"crops of {cfg.crop}" if ragged else frames, seed)
    model = MMT(cfg.mmt, dims)
    cache = ctx.paths.cache("reactdiff", "train") if cfg.cache_inputs else None
    model.encoder.set_input_stats(rd.input_stats(tr, frames, cfg.mmt.input_norm == "clip", cache,
                                                   ctx.threads, ctx.progress))
    model.decoder.tdmm_mean.copy_(torch.from_numpy(np.mean([it.tdmm[:frames].mean(0) for it in tr], axis=0)))
    dev = device()

    def make_loader(epoch: int, is_train: bool):
        part = tr if is_train else va
        ds = (rd.ClipDataset(part, None, cache, cfg.crop, seed, epoch if is_train else 1_000_000) if ragged
              else rd.ClipDataset(part, frames, cache))  # validation: the same crops every epoch
        return loader(ds, tc.batch_size, seed, epoch, is_train, tc.num_workers)

    def step_loss(m, batch, step):
        batch = _to(batch, dev)
        n = batch["tdmm"].shape[1]
        (p3, pe), _ = m({s: batch[s] for s in rd.STREAMS}, causal=_causal_for_step(step, cfg.mmt.causal_training_fraction))
        return mmt_loss(p3[:, :n], pe[:, :n], batch["tdmm"], batch["emotion"], cfg.mmt.emotion_loss)

    digest = ctx.features_digest()
    ema, history = train(model, step_loss, make_loader, tc, ctx.workdir,
                         ctx.resume_identity(config=to_jsonable(cfg.mmt), data=digest, dims=dims,
                                             **({"crop": cfg.crop} if ragged else {})),
                         ctx.progress, seed=seed)
    meta = {"config": to_jsonable(cfg), "dims": dims, "frames": frames, "seed": seed, "history": history,
            "data_manifest_digest": digest, "code_version": code_version(), "packages": package_versions(),
            "peak_rss_mb": peak_rss_mb()}
    checkpoint.save(ctx.out, "reactdiff.mmt", {"model": ema.module.state_dict()}, meta)
    write_losses(ctx.losses, history)
    return meta


def load_mmt(path) -> tuple[MMT, dict[str, Any], ReactDiffConfig]:
    tensors, meta = checkpoint.load(path, kind="reactdiff.mmt")
    cfg = _config_of(meta)
    m = MMT(cfg.mmt, meta["dims"])
    m.load_state_dict(tensors["model"])
    return m.eval(), meta, cfg


@torch.no_grad()
def encode_clips(mmt: MMT, files: dict[str, str], frames: int, progress: bool = True) -> dict[str, torch.Tensor]:
    """Per-frame latents (W*window, L) of each clip, streaming one feature file at a time."""
    out = {}
    for rel, path in tqdm(files.items(), desc="encode", unit="clip", disable=not progress):
        out[rel] = mmt.encoder({s: x[None] for s, x in rd.clip_tensors(path, frames).items()})[0]
    return out


@torch.no_grad()
def encode_chunks(mmt: MMT, files: dict[str, str], spans: dict[str, int], crop: int, progress: bool = True
                  ) -> dict[tuple[str, int], torch.Tensor]:
    """Latents (crop, L) of every whole ``crop``-frame chunk of the first ``spans[rel]`` frames of each clip, keyed
    (clip, start); each chunk encoded as a clip of its own, as generation encodes it."""
    out = {}
    for rel, path in tqdm(files.items(), desc="encode", unit="clip", disable=not progress):
        streams = rd.clip_tensors(path, spans[rel])
        for s in rd.chunk_starts(spans[rel], crop, whole_only=True):
            out[rel, s] = mmt.encoder({k: x[None, s : s + crop] for k, x in streams.items()})[0]
    return out


def chunk_pairs(data, crop: int) -> tuple[list[tuple[tuple[str, int], tuple[str, int]]], dict[str, int]]:
    """The DDIM's training pairs on clips of any length: for every row, its (speaker chunk, listener chunk) keys
    over the row's common length; and the frames each clip is read to."""
    pairs, spans = [], {}
    for k, r in enumerate(data.rows):
        n = min(len(data.speaker_emotion_of(k)), len(data.listener_emotion_of(k)))
        for rel in (r.speaker, r.listener):
            spans[rel] = max(spans.get(rel, 0), n)
        pairs += [((r.speaker, s), (r.listener, s)) for s in rd.chunk_starts(n, crop, whole_only=True)]
    return pairs, spans


def train_ddim(ctx: TrainContext) -> dict[str, Any]:
    cfg: ReactDiffConfig = ctx.config
    tc = cfg.train_ddim
    mmt_path = ctx.checkpoint("mmt")
    mmt, _, _ = load_mmt(mmt_path)
    data = ctx.train_data
    ragged = data.ragged
    if ragged:  # clips of any length: the crop-frame chunks generation cuts each clip into
        frames = cfg.crop
        pairs, spans = chunk_pairs(data, cfg.crop)
        if not pairs:
            raise ValueError(f"{ctx.paths.split_data('train')}: no training pair has the {cfg.crop} frames of one "
                             "ReactDiff crop; lower methods.ReactDiff.crop")
        z = encode_chunks(mmt, {rel: ctx.feature_file(rel) for rel in spans}, spans, cfg.crop, ctx.progress)
    else:
        frames = data.speaker_emotion.shape[1]
        rels = {r: ctx.feature_file(r) for row in data.rows for r in (row.speaker, row.listener)}
        z = encode_clips(mmt, rels, frames, ctx.progress)
        pairs = [(row.speaker, row.listener) for row in data.rows]
    # held out by speaker clip (a clip's chunks stay together)
    tr, va = rd.split_items(pairs, (lambda p: p[0][0]) if ragged else (lambda p: p[0]), tc.val_fraction)
    seed = tc.seed + ctx.seed
    seed_everything(seed)
    diff = LatentDiffusion(cfg.mmt, cfg.ddim)
    diff.norm.fit(torch.stack([z[r] for p in tr for r in p]))  # training-set statistics
    sched = diff.scheduler()
    dev = device()
    log.info("DDIM: %d training pairs, %d held out, %d windows each", len(tr), len(va),
             n_windows(frames, cfg.mmt.window))

    def tensors(ps):
        return torch.utils.data.TensorDataset(torch.stack([z[s] for s, _ in ps]), torch.stack([z[l] for _, l in ps]))

    def make_loader(epoch: int, is_train: bool):
        part = tr if is_train else va
        return loader(tensors(part), tc.batch_size, seed, epoch, is_train) if part else []

    def step_loss(m, batch, step):
        s, l = (x.to(dev) for x in batch)
        online = step % 2 == 1  # one model for both modes: offline and online batches alternate
        if step < 0:  # validation: a fixed generator so that val losses are comparable across epochs
            g = torch.Generator(device=dev).manual_seed(0)
            return 0.5 * (m.loss(l, s, False, sched, g) + m.loss(l, s, True, sched, g))
        return m.loss(l, s, online, sched)

    digest = ctx.features_digest()
    mmt_sha = file_sha256(mmt_path)
    ema, history = train(diff, step_loss, make_loader, tc, ctx.workdir,
                         ctx.resume_identity(config=to_jsonable(cfg), data=digest, mmt=mmt_sha),
                         ctx.progress, seed=seed)
    meta = {"config": to_jsonable(cfg), "history": history, "seed": seed,
            "latent_stats": {"min": diff.norm.lo.tolist(), "max": diff.norm.hi.tolist()},
            "mmt_sha256": mmt_sha, "data_manifest_digest": digest, "frames": frames,
            "code_version": code_version(), "packages": package_versions(), "peak_rss_mb": peak_rss_mb()}
    checkpoint.save(ctx.out, "reactdiff.ddim", {"model": ema.module.state_dict()}, meta)
    write_losses(ctx.losses, history)
    return meta


def load_models(mmt_path, ddim_path) -> tuple[MMT, LatentDiffusion, ReactDiffConfig]:
    mmt, _, cfg = load_mmt(mmt_path)
    tensors, meta = checkpoint.load(ddim_path, kind="reactdiff.ddim")
    if meta["mmt_sha256"] != file_sha256(mmt_path):
        raise checkpoint.CheckpointError(f"{ddim_path} was trained on another MMT than {mmt_path}")
    # Each stage ran with its own settings (the workflow gives a stage nothing else): the DDIM's sizes come from
    # its own checkpoint, the MMT's from the MMT's.
    dcfg = _config_of(meta)
    if to_jsonable(dcfg.mmt) != to_jsonable(cfg.mmt):
        raise checkpoint.CheckpointError(f"{ddim_path} was trained for another MMT configuration than {mmt_path}")
    diff = LatentDiffusion(cfg.mmt, dcfg.ddim)
    diff.load_state_dict(tensors["model"])
    cfg.ddim, cfg.train_ddim = dcfg.ddim, dcfg.train_ddim
    return mmt, diff.eval(), cfg


@torch.no_grad()
def react(mmt: MMT, diff: LatentDiffusion, feats: dict[str, torch.Tensor], frames: int, n_pred: int, online: bool,
          steps: int, eta: float, seeds: list[int], amp=None) -> tuple[np.ndarray, np.ndarray]:
    """n_pred reactions (emotion (B, n, T, 25), 3DMM (B, n, T, 58)) to each of B speaker clips' features (B, T, dim).

    All B x n_pred x W windows are denoised in one batch, online as well: online window w is conditioned on
    speaker window w - 1 (never on what was generated before it), and the frame-causal decoder makes the
    whole-clip computation equal to a frame-by-frame stream (the method contract test checks it at random frames).
    Clip b's noise -- the initial draw and, with eta > 0, each step's -- comes from ``seeds[b]`` alone (CPU
    generators, whatever the networks' device), so which clips share a batch changes float rounding only.
    The networks run on their own device (inputs follow them) under ``amp`` (the precision context)."""
    dev = next(mmt.parameters()).device
    win, b = mmt.cfg.window, len(seeds)
    n_win = n_windows(frames, win)
    gens = [torch.Generator().manual_seed(s) for s in seeds]
    noise = torch.cat([torch.randn(n_pred * n_win, win, mmt.cfg.latent_dim, generator=g) for g in gens]).to(dev)
    feats = {k: v.to(dev) for k, v in feats.items()}
    with amp if amp is not None else contextlib.nullcontext():
        cond = diff.condition(mmt.encoder(feats, "window" if online else None), online)  # (B, W, cond_dim)
        cond = cond[:, None].expand(b, n_pred, n_win, -1).reshape(b * n_pred * n_win, -1)
        per_window = [g for g in gens for _ in range(n_pred * n_win)]  # diffusers draws window i from generator i
        z = diff.sample(cond, noise, steps, eta, per_window).reshape(b * n_pred, n_win * win, -1)
        tdmm, emo = mmt.decoder(z.float(), causal=online)
    return (emo[:, :frames].reshape(b, n_pred, frames, -1).float().cpu().numpy(),
            tdmm[:, :frames].reshape(b, n_pred, frames, -1).float().cpu().numpy())


def chunk_seed(seed: int, chunk: int) -> int:
    """The noise seed of chunk ``chunk`` of a row whose seed is ``seed`` (clips of any length)."""
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1, np.uint64)[0] >> 1)


def react_chunks(mmt: MMT, diff: LatentDiffusion, feats: dict[str, np.ndarray], frames: int, crop: int,
                 block: int, n_pred: int, online: bool, steps: int, eta: float, seed: int, amp=None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """n_pred reactions (emotion (n, T, 25), 3DMM (n, T, 58)) to one speaker clip of any length T, generated in
    the consecutive ``crop``-frame chunks the DDIM trained on, each chunk a clip of its own with its own noise
    (``chunk_seed``); ``block`` whole chunks share a batch, the last, shorter chunk runs alone. As in the
    official baselines' 750-frame chunks, nothing crosses a chunk boundary: online stays frame-causal, and an
    online chunk's first window has no speaker window before it (as frame 0 of a clip)."""
    whole = rd.chunk_starts(frames, crop, whole_only=True)
    groups = [whole[i : i + block] for i in range(0, len(whole), block)]
    groups += [[s] for s in rd.chunk_starts(frames, crop) if s + crop > frames]  # the shorter last chunk alone
    emotion, tdmm = [], []
    for g in groups:
        n = min(crop, frames - g[0])
        batch = {k: torch.from_numpy(np.stack([v[s : s + n] for s in g])) for k, v in feats.items()}
        e, d = react(mmt, diff, batch, n, n_pred, online, steps, eta, [chunk_seed(seed, s // crop) for s in g], amp)
        emotion += list(e)
        tdmm += list(d)
    return np.concatenate(emotion, axis=1), np.concatenate(tdmm, axis=1)


def generate(ctx: GenerationContext, variant: str) -> Reactions:
    """Reactions for rows ``ctx.rows``, sampled in fixed blocks of ``generate_rows`` rows. Row k's noise comes from
    its own seed, so a shard's output does not depend on how the split is sharded. Clips of any length: each row
    alone, in chunks of ``crop`` frames (``react_chunks``), ``generate_rows`` chunks per batch."""
    cfg: ReactDiffConfig = ctx.config
    mmt, diff, _ = load_models(ctx.checkpoint("mmt"), ctx.checkpoint("ddim"))
    mmt, diff = mmt.to(ctx.torch_device), diff.to(ctx.torch_device)
    online = variant == "online"

    def sample(a: int, z: int) -> tuple[np.ndarray, np.ndarray]:
        clips = [ctx.speaker(k).features(rd.STREAMS) for k in range(a, z)]
        if ctx.ragged:
            e, d = react_chunks(mmt, diff, clips[0], ctx.row_frames(a), cfg.crop, cfg.generate_rows,
                                ctx.n_predictions, online, cfg.ddim.sample_steps, cfg.ddim.eta, ctx.sample_seed(a),
                                ctx.autocast())
            return e[None], d[None]
        feats = {s: torch.from_numpy(np.stack([c[s] for c in clips])) for s in rd.STREAMS}
        return react(mmt, diff, feats, ctx.frames, ctx.n_predictions, online, cfg.ddim.sample_steps,
                     cfg.ddim.eta, [ctx.sample_seed(k) for k in range(a, z)], ctx.autocast())

    return ctx.in_blocks(cfg.generate_rows, variant, sample)

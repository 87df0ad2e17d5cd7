"""The three ReactDiff steps the workflow runs: train the MMT, train the latent DDIM, generate reactions."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from mafrg.atomic import write_json, write_npy
from mafrg.data.assemble import SplitArrays
from mafrg.provenance import code_version, config_hash, file_sha256, package_versions
from mafrg.reactdiff import data as rd
from mafrg.reactdiff.config import ReactDiffConfig, reactdiff_config
from mafrg.reactdiff.diffusion import LatentDiffusion
from mafrg.reactdiff.mmt import MMT, mmt_loss, windowed
from mafrg.reactdiff.training import device, peak_rss_mb, save_atomic, seed_everything, train, write_losses

log = logging.getLogger(__name__)


def _loader(dataset, batch_size: int, seed: int, epoch: int, shuffle: bool, num_workers: int = 0):
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=g,
                                       num_workers=num_workers)


def _causal_for_step(step: int, fraction: float) -> bool:
    """A fixed pseudo-random choice per step (reproducible, also after resuming)."""
    return step >= 0 and ((step * 2654435761) % 4096) / 4096.0 < fraction


def _to(batch: dict[str, torch.Tensor], dev) -> dict[str, torch.Tensor]:
    return {k: v.to(dev) for k, v in batch.items()}


def train_mmt(train_npz: str, features_root: str, manifest: str, settings: dict[str, Any], out: str,
              losses_csv: str, progress: bool = True) -> dict[str, Any]:
    cfg = reactdiff_config(settings)
    data = SplitArrays.load(train_npz)
    frames = data.speaker_emotion.shape[1]
    items = rd.person_clips(data, features_root)
    tr, va = rd.split_items(items, lambda it: it.rel, cfg.train_mmt.val_fraction)
    dims = rd.stream_dims(items[0].shard)
    seed_everything(cfg.train_mmt.seed)  # before the model is built: initial weights follow the seed
    log.info("MMT: %d training clips, %d held out, %d frames, preset %s", len(tr), len(va), frames, cfg.preset)
    model = MMT(cfg.mmt, dims)
    model.encoder.set_input_stats(rd.input_stats(tr, frames))
    dev = device()

    def make_loader(epoch: int, is_train: bool):
        return _loader(rd.ClipDataset(tr if is_train else va, frames), cfg.train_mmt.batch_size,
                       cfg.train_mmt.seed, epoch, is_train, cfg.train_mmt.num_workers)

    def step_loss(m, batch, step):
        batch = _to(batch, dev)
        feats, _ = windowed({s: batch[s] for s in rd.STREAMS}, cfg.mmt.window)
        (p3, pe), _ = m(feats, causal=_causal_for_step(step, cfg.mmt.causal_training_fraction))
        return mmt_loss(p3[:, :frames], pe[:, :frames], batch["tdmm"], batch["emotion"])

    digest = rd.manifest_digest(manifest)
    ema, history = train(model, step_loss, make_loader, cfg.train_mmt, Path(out).parent / "mmt_state",
                         {"stage": "mmt", "config": cfg.to_dict(), "data": digest, "dims": dims}, progress)
    final = {
        "kind": "mmt", "config": cfg.to_dict(), "dims": dims, "frames": frames,
        "model": ema.module.state_dict(), "history": history, "data_manifest_digest": digest,
        "code_version": code_version(), "packages": package_versions(), "peak_rss_mb": peak_rss_mb(),
    }
    save_atomic(final, Path(out))
    write_losses(Path(losses_csv), history)
    return final


def load_mmt(path: str) -> tuple[MMT, dict[str, Any], ReactDiffConfig]:
    ck = torch.load(path, map_location="cpu", weights_only=False)
    if ck.get("kind") != "mmt":
        raise ValueError(f"{path}: not an MMT checkpoint")
    cfg = reactdiff_config(ck["config"])
    m = MMT(cfg.mmt, ck["dims"])
    m.load_state_dict(ck["model"])
    return m.eval(), ck, cfg


@torch.no_grad()
def encode_clips(mmt: MMT, shards: dict[str, str], frames: int, progress: bool = True) -> dict[str, torch.Tensor]:
    """Window latents (W, L) of each clip, streaming one shard at a time."""
    out = {}
    for rel, shard in tqdm(shards.items(), desc="encode", unit="clip", disable=not progress):
        feats, _ = windowed(rd.load_clip_features(shard, frames), mmt.cfg.window)
        out[rel] = mmt.encoder(feats)[0]
    return out


def train_ddim(train_npz: str, features_root: str, manifest: str, mmt_path: str, settings: dict[str, Any],
               out: str, losses_csv: str, progress: bool = True) -> dict[str, Any]:
    cfg = reactdiff_config(settings)
    mmt, mmt_ck, _ = load_mmt(mmt_path)
    data = SplitArrays.load(train_npz)
    frames = data.speaker_emotion.shape[1]
    rels = {r: rd.shard_path(features_root, "train", r) for row in data.rows for r in (row.speaker, row.listener)}
    z = encode_clips(mmt, rels, frames, progress)
    pairs = [(row.speaker, row.listener) for row in data.rows]
    tr, va = rd.split_items(pairs, lambda p: p[0], cfg.train_ddim.val_fraction)
    seed_everything(cfg.train_ddim.seed)
    diff = LatentDiffusion(cfg.mmt, cfg.ddim)
    diff.norm.fit(torch.stack([z[r] for p in tr for r in p]))  # training-set statistics
    sched = diff.scheduler()
    dev = device()
    log.info("DDIM: %d training pairs, %d held out, %d windows each", len(tr), len(va), z[pairs[0][0]].shape[0])

    def tensors(ps):
        return torch.utils.data.TensorDataset(torch.stack([z[s] for s, _ in ps]), torch.stack([z[l] for _, l in ps]))

    def make_loader(epoch: int, is_train: bool):
        part = tr if is_train else va
        return _loader(tensors(part) if part else [], cfg.train_ddim.batch_size, cfg.train_ddim.seed, epoch,
                       is_train)

    def step_loss(m, batch, step):
        s, l = (x.to(dev) for x in batch)
        online = step % 2 == 1
        if step < 0:  # validation: a fixed generator so that val losses are comparable across epochs
            g = torch.Generator(device=dev).manual_seed(0)
            return 0.5 * (m.loss(l, s, False, sched, g) + m.loss(l, s, True, sched, g))
        return m.loss(l, s, online, sched)

    digest = rd.manifest_digest(manifest)
    ema, history = train(diff, step_loss, make_loader, cfg.train_ddim, Path(out).parent / "ddim_state",
                         {"stage": "ddim", "config": cfg.to_dict(), "data": digest, "mmt": file_sha256(mmt_path)},
                         progress)
    final = {
        "kind": "ddim", "config": cfg.to_dict(), "model": ema.module.state_dict(), "history": history,
        "latent_stats": {"min": diff.norm.lo.tolist(), "max": diff.norm.hi.tolist()},
        "mmt_sha256": file_sha256(mmt_path), "data_manifest_digest": digest, "frames": frames,
        "code_version": code_version(), "packages": package_versions(), "peak_rss_mb": peak_rss_mb(),
    }
    save_atomic(final, Path(out))
    write_losses(Path(losses_csv), history)
    return final


def load_models(mmt_path: str, ddim_path: str) -> tuple[MMT, LatentDiffusion, ReactDiffConfig]:
    mmt, _, cfg = load_mmt(mmt_path)
    ck = torch.load(ddim_path, map_location="cpu", weights_only=False)
    if ck.get("kind") != "ddim":
        raise ValueError(f"{ddim_path}: not a DDIM checkpoint")
    if ck["mmt_sha256"] != file_sha256(mmt_path):
        raise ValueError(f"{ddim_path} was trained on another MMT than {mmt_path}")
    diff = LatentDiffusion(cfg.mmt, cfg.ddim)
    diff.load_state_dict(ck["model"])
    return mmt, diff.eval(), cfg


@torch.no_grad()
def react(mmt: MMT, diff: LatentDiffusion, feats: dict[str, torch.Tensor], frames: int, n_pred: int, online: bool,
          steps: int, eta: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n_pred reactions (emotion (n, T, 25), 3DMM (n, T, 58)) to one speaker clip's features (1, T, dim)."""
    win = mmt.cfg.window
    w_feats, n_win = windowed(feats, win)
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(n_pred, n_win, mmt.cfg.latent_dim, generator=g)  # drawn up front: independent of data
    if not online:
        s = mmt.encoder(w_feats)  # (1, W, L)
        cond = diff.constraint(diff.norm(s), online=False).expand(n_pred, -1, -1).reshape(n_pred * n_win, -1)
        z = diff.sample(cond, noise.reshape(n_pred * n_win, -1), steps, eta, g).reshape(n_pred, n_win, -1)
        tdmm, emo = mmt.decoder(z, causal=False)
        return emo[:, :frames].numpy(), tdmm[:, :frames].numpy()
    # Online: window by window, from the current and past speaker windows only.
    emo_out = np.empty((n_pred, n_win * win, 25), np.float32)
    tdmm_out = np.empty((n_pred, n_win * win, 58), np.float32)
    s_prefix, z_prefix = [], []
    for w in range(n_win):
        s_prefix.append(mmt.encoder({k: v[:, w : w + 1] for k, v in w_feats.items()})[:, 0])
        s = torch.stack(s_prefix, dim=1)  # (1, w+1, L)
        cond = diff.constraint(diff.norm(s), online=True)[:, -1].expand(n_pred, -1)
        z_prefix.append(diff.sample(cond, noise[:, w], steps, eta, g))
        tdmm, emo = mmt.decoder(torch.stack(z_prefix, dim=1), causal=True)
        emo_out[:, w * win : (w + 1) * win] = emo[:, w * win :].numpy()
        tdmm_out[:, w * win : (w + 1) * win] = tdmm[:, w * win :].numpy()
    return emo_out[:, :frames], tdmm_out[:, :frames]


def generate(split_npz: str, features_root: str, mmt_path: str, ddim_path: str, mode: str, out: str,
             settings: dict[str, Any] | None = None, progress: bool = True,
             rows: tuple[int, int] | None = None) -> None:
    """Reactions for rows ``rows = (start, stop)`` of the split (all by default). Row k's noise comes from
    its own seed, so a shard's output does not depend on how the split is sharded."""
    mmt, diff, cfg = load_models(mmt_path, ddim_path)
    over = reactdiff_config(settings) if settings else cfg
    data = SplitArrays.load(split_npz)
    frames = data.speaker_emotion.shape[1]
    n = over.n_predictions
    lo, hi = rows or (0, data.n_rows)
    emotion = np.empty((hi - lo, n, frames, 25), np.float32)
    tdmm = np.empty((hi - lo, n, frames, 58), np.float32)
    online = mode == "online"
    for i, row in enumerate(tqdm(data.rows[lo:hi], desc=f"generate {data.split} ({mode})", unit="row",
                                 disable=not progress)):
        k = lo + i
        feats = rd.load_clip_features(rd.shard_path(features_root, data.split, row.speaker), frames)
        emotion[i], tdmm[i] = react(mmt, diff, feats, frames, n, online, over.ddim.sample_steps, over.ddim.eta,
                                    over.generate_seed * 100_003 + k)
    write_npy(out, emotion)
    write_npy(str(Path(out).with_suffix("")) + "_3dmm.npy", tdmm)
    write_json(Path(out).with_suffix(".json"), {
        "method": f"ReactDiff_{mode}", "split": data.split, "mode": mode, "rows": [lo, hi],
        "row_order": [{"row": r.index, "speaker": r.speaker, "listener": r.listener, "mirrored": r.mirrored}
                      for r in data.rows[lo:hi]],
        "sampling": {"steps": over.ddim.sample_steps, "eta": over.ddim.eta, "seed": over.generate_seed,
                     "n_predictions": n},
        "checkpoints": {"mmt": file_sha256(mmt_path), "ddim": file_sha256(ddim_path)},
        "provenance": {"code_version": code_version(), "packages": package_versions(),
                       "config_hash": config_hash(over.to_dict())},
    })

"""Efficient Listener's headline, measured: FLOPs and CPU time of ELNet from raw frames and audio against
ReactDiff end to end (feature extraction included), for one speaker segment, batch 1, inference only.

    python benchmarks/efficiency_bench.py                 # 64-frame segment, paper sizes, 2 threads
    python benchmarks/efficiency_bench.py --preset demo

(a) Efficient Listener: 96 x 96 frames (resized from 256 x 256 decoded frames, the resize is timed) and 16 kHz
    audio -> log-mel, ResNet-18 + spatial softmax, ELNet, one denoising step; one reaction.
(b) ReactDiff: the per-frame extractors it needs at their published sizes -- ELIM (AlexNet encoder + regressor),
    ME-GraphAU with the Swin-B backbone that facetorch ships and the authors used (its graph head left out;
    ``--au-backbone resnet50`` for the lighter one) and HSEmotion's EfficientNet-B2, all on the authors'
    256/224 preprocessing (timed), batches of 8 frames; wav2vec2-base on the audio; Kaldi MFCC -- then the MMT
    and the 20-step DDIM; one reaction. These are mafrg's own implementations of the published networks
    (``mafrg.extractors.published``), so (b) is ReactDiff's whole cost, not a lower bound.
Weights are random (speed does not depend on them). FLOPs are counted by ``torch.utils.flop_counter`` (matrix
products and convolutions; 2 FLOPs per multiply-add), in total and per top-level module (perception and ELNet;
each extractor, wav2vec2, MMT and the diffusion), with each side's GFLOP/s and the most FLOPs (a) may have for
100x at equal GFLOP/s. Also: reactions per second for a full 750-frame clip
with 10 reactions, and the real-time factor (segment duration / generation time).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from mafrg import bench_results
from mafrg.flops import flop_breakdown
from timing import allocator_option, apply_allocator, best_time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--preset", choices=["paper", "demo"], default="paper")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-reactdiff", action="store_true")
    ap.add_argument("--au-backbone", default="swin_base", choices=["swin_base", "swin_small", "swin_tiny", "resnet50",
                                                                   "resnet18"])
    allocator_option(ap)
    bench_results.add_option(ap)
    a = ap.parse_args()
    memory = apply_allocator(a)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    from torchaudio.compliance.kaldi import mfcc
    from torchaudio.models import wav2vec2_base

    from mafrg.extractors import published
    from mafrg.features.preprocess import for_stream
    from mafrg.features.video import crop_frames, normalise
    from mafrg.media.video import resize_square
    from mafrg.methods import get
    from mafrg.methods.efficient_listener.model import FacialActionDiffusion
    from mafrg.methods.efficient_listener.stages import react as el_react
    from mafrg.methods.reactdiff.diffusion import LatentDiffusion
    from mafrg.methods.reactdiff.mmt import MMT
    from mafrg.methods.reactdiff.stages import react as rd_react
    from mafrg.methods.settings import resolve

    t = a.frames
    rng = np.random.default_rng(0)
    decoded = rng.integers(0, 256, (t, 256, 256, 3), dtype=np.uint8)
    audio = rng.normal(0, 0.1, t * 640).astype(np.float32)
    el = FacialActionDiffusion(resolve(get("EfficientListener"), {"preset": a.preset}).config).eval()
    size = el.cfg.perception.image_size

    @torch.no_grad()
    def efficient_listener(frames=t, n=1):
        video = resize_square(decoded[:frames] if frames <= t else np.resize(decoded, (frames, 256, 256, 3)), size)
        wav = audio[: frames * 640] if frames <= t else np.resize(audio, frames * 640)
        return el_react(el, frames, video, wav, n, online=True, steps=1, seed=0)

    el_s, (el_f, el_parts) = best_time(efficient_listener, a.repeats), flop_breakdown(efficient_listener)
    print(f"segment: {t} frames ({t / 25:.2f} s at 25 fps), batch 1, {a.threads} threads, preset {a.preset}, {memory}")
    print(f"(a) Efficient Listener: {el_f / 1e9:9.2f} GFLOPs {el_s * 1000:9.1f} ms  "
          f"real-time factor {t / 25 / el_s:.1f}x")
    print(f"    of which {split(el_parts)}")
    clip_s = best_time(lambda: efficient_listener(750, 10), 1)
    print(f"    750-frame clip, 10 reactions: {clip_s:.2f} s -> {10 / clip_s:.1f} reactions/s")
    figures = (f"(a) Efficient Listener {el_f / 1e9:.2f} GFLOPs, {el_s * 1000:.1f} ms per {t} frames "
               f"(real-time factor {t / 25 / el_s:.1f}x); 750-frame clip x 10 reactions {clip_s:.2f} s")
    if a.skip_reactdiff:
        if a.record:
            bench_results.record("efficiency_bench.py", figures)
        return

    rd_cfg = resolve(get("ReactDiff"), {"preset": a.preset}).config
    nets = {"va": published("va"), "au": published("au", a.au_backbone), "fe": published("fe")}
    w2v = wav2vec2_base().eval()
    mmt, diff = MMT(rd_cfg.mmt).eval(), LatentDiffusion(rd_cfg.mmt, rd_cfg.ddim).eval()
    pre = for_stream("va", "reactdiff")  # the same for all three streams

    @torch.no_grad()
    def reactdiff():
        feats = {s: [] for s in nets}
        for i in range(0, t, 8):  # the extraction's batches
            x = normalise(crop_frames(decoded[i : i + 8], pre.geometry.resize, pre.geometry.crop), pre.mean, pre.std)
            for s, net in nets.items():
                feats[s].append(net(x))
        feats = {s: torch.cat(v)[None] for s, v in feats.items()}
        hidden, _ = w2v(torch.from_numpy(audio)[None])  # 50 Hz, 768-d (one frame short: the last repeats)
        hidden = torch.cat([hidden, hidden[:, -1:].expand(1, max(0, 2 * t - hidden.shape[1]), -1)], dim=1)
        m = mfcc(torch.from_numpy(audio)[None], sample_frequency=16000.0, frame_length=40.0, frame_shift=40.0,
                 num_ceps=26, num_mel_bins=26, dither=0.0)
        feats |= {"mfcc": m[None, :t], "wav2vec2": hidden[:, : 2 * t].reshape(1, t, 1536)}
        return rd_react(mmt, diff, feats, t, 1, True, rd_cfg.ddim.sample_steps, 0.0, [0])

    rd_s, (rd_f, rd_parts) = best_time(reactdiff, max(1, a.repeats - 2)), flop_breakdown(reactdiff)
    print(f"(b) ReactDiff end to end (AU: {a.au_backbone}): {rd_f / 1e9:9.2f} GFLOPs {rd_s * 1000:9.1f} ms  "
          f"real-time factor {t / 25 / rd_s:.2f}x")
    print(f"    of which {split(rd_parts)}")
    print(f"ratio (b)/(a): {rd_f / el_f:.1f}x FLOPs, {rd_s / el_s:.1f}x time "
          f"(GFLOP/s: (a) {el_f / el_s / 1e9:.0f}, (b) {rd_f / rd_s / 1e9:.0f})")
    print(f"100x at equal GFLOP/s needs (a) <= {rd_f / 100 / 1e9:.2f} GFLOPs")
    if a.record:
        bench_results.record("efficiency_bench.py", f"{figures}; (b) ReactDiff {rd_f / 1e9:.2f} GFLOPs, "
                             f"{rd_s:.2f} s; ratio {rd_s / el_s:.1f}x in time, {rd_f / el_f:.1f}x in FLOPs")


def split(parts: dict[str, float]) -> str:
    """'Perception 42.66, ELNet 2.88' -- a call's GFLOPs by top-level module, largest first."""
    return ", ".join(f"{k} {v / 1e9:.2f}" for k, v in sorted(parts.items(), key=lambda kv: -kv[1]))


if __name__ == "__main__":
    main()

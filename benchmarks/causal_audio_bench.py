"""Cost per frame of the causal wav2vec2 stream against the whole-clip one, at wav2vec2-base size.

    python benchmarks/causal_audio_bench.py --seconds 20 --context 1.0 --chunks 1 5 25

Why: online variants read ``wav2vec2_causal`` (frame t from the audio up to the end of frame t only), which runs
the network once per window of ``context`` seconds plus the frame(s) instead of once over the clip, so it costs
about (context + chunk / fps) / (chunk / fps) times more per frame. The script measures it on ``--seconds`` of
speech-like noise at 25 fps with a randomly initialised ``transformers.Wav2Vec2Model`` of the base configuration
(the size of facebook/wav2vec2-base-960h; weights do not change the cost) and with the demo's untrained
stand-in, on ``--threads`` torch threads, best of ``--repeats`` after one warm-up call.
"""

from __future__ import annotations

import argparse

import numpy as np

from mafrg import bench_results
from timing import best_time

FPS, RATE = 25, 16000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--context", type=float, default=1.0)
    ap.add_argument("--chunks", type=int, nargs="+", default=[1, 5, 25])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    bench_results.add_option(ap)
    a = ap.parse_args()

    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    from mafrg.features.wav2vec import untrained_wav2vec2, wav2vec2_causal_per_frame, wav2vec2_per_frame
    from mafrg.media.audio import AlignedAudio

    torch.set_num_threads(a.threads)
    frames = int(a.seconds * FPS)
    x = (0.1 * np.random.default_rng(0).standard_normal(frames * RATE // FPS)).astype(np.float32)
    audio = AlignedAudio(x, RATE, FPS, frames, RATE, len(x) / RATE, 0, False)
    torch.manual_seed(0)
    nets = {"wav2vec2-base (random weights)": Wav2Vec2Model(Wav2Vec2Config()).eval(),
            "untrained stand-in": untrained_wav2vec2(0)}
    cells = []
    for label, net in nets.items():
        whole = best_time(lambda: wav2vec2_per_frame(net, True, audio), a.repeats)
        parts = [f"whole clip {frames / whole:,.0f} frames/s"]
        for k in a.chunks:
            t = best_time(lambda k=k: wav2vec2_causal_per_frame(net, True, audio, a.context, k), a.repeats)
            parts.append(f"causal chunk {k}: {frames / t:,.1f} frames/s ({t / whole:.0f}x)")
        line = f"{label}: " + ", ".join(parts)
        print(line, flush=True)
        cells.append(line)
    if a.record:
        bench_results.record("causal_audio_bench.py", f"{frames} frames at {FPS} fps, context {a.context} s, "
                             f"{a.threads} threads; " + "; ".join(cells))


if __name__ == "__main__":
    main()

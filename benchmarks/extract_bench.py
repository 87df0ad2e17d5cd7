"""Feature extraction throughput on this CPU for a 30 s clip, against a naive per-frame loop, and storage size.

    python benchmarks/extract_bench.py                 # tiny untrained networks (what the demo runs)
    python benchmarks/extract_bench.py --backbone resnet50   # ResNet-50-sized random network per visual stream
    python benchmarks/extract_bench.py --backbone real       # the published extractors (random weights):
        # frames/s per network at batch 1 / 8 / 32 and the projected hours for the REACT 2024 training set
    python benchmarks/extract_bench.py --backbone real --device cuda --batches 8,32,128   # the same on a GPU

* decode+preprocess: mafrg (decord batches, torch resize/crop/normalise on the batch) vs naive (cv2.VideoCapture
  frame by frame, per-frame resize/crop/normalise);
* each stream: frames/second of mafrg (batched) vs batch 1 (one frame per forward pass);
* storage: bytes per frame of each stream column in the Parquet shard (AU as float16 and as float32), and the
  projection for the REACT 2024 training set (``--train-clips`` person-clips of 751 frames; default 3,188 =
  2 x 1,594 training dyads, an assumption stated in the output).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from mafrg import bench_results
from timing import allocator_option, apply_allocator


def make_clip(folder: Path, seconds: float, fps: int = 25) -> tuple[Path, Path]:
    from mafrg.config import DatasetConfig, SynthConfig
    from mafrg.data.layouts import get_layout
    from mafrg.synth.generator import generate

    frames = int(seconds * fps) + 1
    generate(SynthConfig(seed=1, sessions={"train": 1, "val": 1, "test": 1}, clips_per_session=1, frames=frames,
                         audio="procedural", fps=fps), folder)
    layout = get_layout(DatasetConfig(root=str(folder)))
    f = layout.clip_files("val", layout.pairs("val")[0][0])
    return f.video, f.audio


def naive_decode(path: Path, crop: int = 224, size: int = 256) -> int:
    import cv2

    cap = cv2.VideoCapture(str(path))
    n = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        h, w = rgb.shape[:2]
        s = size / min(h, w)
        rgb = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_LINEAR)
        t, l = (rgb.shape[0] - crop) // 2, (rgb.shape[1] - crop) // 2
        x = (rgb[t : t + crop, l : l + crop].astype(np.float32) / 255.0 - 0.5) / 0.5
        x.transpose(2, 0, 1)
        n += 1
    return n


def resnet50_like(dim: int):
    """A randomly initialised ResNet-50 (transformers) with a linear head: the compute of a real extractor."""
    import torch
    from transformers import ResNetConfig, ResNetModel

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = ResNetModel(ResNetConfig(depths=[3, 4, 6, 3], hidden_sizes=[256, 512, 1024, 2048],
                                                 layer_type="bottleneck"))
            self.head = torch.nn.Linear(2048, dim)

        def forward(self, x):
            return self.head(self.body(x).pooler_output.flatten(1))

    return Net().eval()


def real_networks() -> dict[str, tuple[object, int]]:
    """The published architectures mafrg loads (random weights): name -> (network, input size)."""
    from mafrg.extractors import published

    fe = published("fe")
    return {
        "va  ELIM (AlexNet)": (published("va"), 224),
        "au  ME-GraphAU Swin-B": (published("au", "swin_base"), 224),
        "au  ME-GraphAU ResNet-50": (published("au", "resnet50"), 224),
        "fe  HSEmotion B2 @224 (reactdiff)": (fe, 224),
        "fe  HSEmotion B2 @260 (native)": (fe, 260),
        "fe  ResMaskNet @224 (paper)": (published("fe", network="resmasknet"), 224),
    }


def bench_real(threads: int, train_frames: int, batches=(1, 8, 32), device: str = "cpu") -> tuple[str, str | None]:
    """Frames/s of the published extractor architectures; returns (figures, GPU name or None)."""
    import torch

    from mafrg.features.networks import visual_device

    torch.set_num_threads(threads)
    dev = visual_device(device)  # on a GPU: TF32 off, as the extraction runs
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    where = torch.cuda.get_device_name() if dev.type == "cuda" else f"CPU, {threads} threads"
    print(f"published extractor architectures, random weights, {where}; frames/s by batch size; "
          f"hours: {train_frames / 1e6:.2f} M training frames at the best batch size\n")
    head = "".join(f"{'batch ' + str(b):>11}" for b in batches)
    print(f"{'network':<36}{'params':>9}{head}{'hours':>9}")
    hours: dict[str, float] = {}
    fps_all: dict[str, list[float]] = {}
    for name, (net, size) in real_networks().items():
        params = sum(p.numel() for p in net.parameters())
        fps = []
        net = net.to(dev)
        with torch.inference_mode():
            for b in batches:
                x = torch.randn(b, 3, size, size, device=dev)
                net(x)  # warm-up (cuDNN picks its algorithms per shape)
                sync()
                reps = max(1, 8 // b) if dev.type == "cpu" else max(3, 512 // b)
                t = time.perf_counter()
                for _ in range(reps):
                    net(x)
                sync()
                fps.append(b * reps / (time.perf_counter() - t))
        hours[name] = train_frames / max(fps) / 3600
        fps_all[name] = fps
        print(f"{name:<36}{params / 1e6:8.1f}M" + "".join(f"{f:11.2f}" for f in fps) + f"{hours[name]:9.1f}")
    names = list(hours)
    authors = hours[names[0]] + hours[names[1]] + hours[names[3]]
    r50 = hours[names[0]] + hours[names[2]] + hours[names[3]]
    paper = hours[names[0]] + hours[names[1]] + hours[names[5]]
    print(f"\nREACT 2024 training set, the three video streams on this machine: {authors:.0f} h with ReactDiff's code's "
          f"set (ELIM, ME-GraphAU Swin-B, HSEmotion B2 at 224); {paper:.0f} h with the paper's (ResMaskNet for FE); "
          f"{r50:.0f} h with the ResNet-50 AU backbone")
    figures = (f"frames/s at batch {'/'.join(map(str, batches))}: " + "; ".join(
        f"{name} " + "/".join(f"{f:.1f}" for f in fps_all[name]) for name in names)
        + f"; REACT 2024 training set {authors:.0f} h with ReactDiff's code's extractors, {paper:.0f} h with the "
          "paper's (ResMaskNet)")
    return figures, (torch.cuda.get_device_name() if dev.type == "cuda" else None)


def timed(fn, *a):
    t = time.perf_counter()
    out = fn(*a)
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--fps", type=int, default=25, help="frame rate of the clip (30: MARS)")
    ap.add_argument("--backbone", choices=["untrained", "resnet50", "real"], default="untrained")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--batches", default="1,8,32", help="--backbone real: batch sizes to time")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="--backbone real: where to run them")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-clips", type=int, default=3188)
    ap.add_argument("--naive-frames", type=int, default=64, help="frames timed for the batch-1 network loop")
    allocator_option(ap)
    bench_results.add_option(ap)
    a = ap.parse_args()
    print(apply_allocator(a))

    import torch

    if a.backbone == "real":
        figures, gpu = bench_real(a.threads, a.train_clips * 751, tuple(int(b) for b in a.batches.split(",")),
                                  a.device)
        if a.record:
            bench_results.record("extract_bench.py", figures, gpu=gpu)
        return
    from mafrg.features.audio import mfcc_per_frame
    from mafrg.media.audio import align_audio
    from mafrg.features.config import FeatureConfig
    from mafrg.features.networks import load_visual, run_visual
    from mafrg.features.video import preprocess
    from mafrg.media.video import iter_frame_batches, plan_grid
    from mafrg.features.wav2vec import untrained_wav2vec2, wav2vec2_per_frame

    torch.set_num_threads(a.threads)
    tmp = Path(tempfile.mkdtemp())
    video, audio_path = make_clip(tmp / "clip", a.seconds, a.fps)
    plan = plan_grid(video, a.fps)
    n = plan.frames
    print(f"clip: {n} frames ({a.seconds:.0f} s at {a.fps} fps) 256x256 mp4; threads={a.threads}; "
          f"backbone={a.backbone}\n")

    preprocess(next(iter_frame_batches(video, plan, 2))[1], 256, 224)  # warm-up: load the compiled kernel
    t_dec, batches = timed(lambda: [preprocess(b, 256, 224) for _, b in iter_frame_batches(video, plan, a.batch)])
    t_naive, _ = timed(naive_decode, video)
    rows = [("decode+preprocess", n / t_dec, n / t_naive)]

    dims = {"va": 64, "au": 25088, "fe": 1408}
    for s, d in dims.items():
        net = resnet50_like(d) if a.backbone == "resnet50" else load_visual(s, FeatureConfig())[0]
        run_visual(net, batches[0][:2])  # warm-up
        t_b, _ = timed(lambda: [run_visual(net, x) for x in batches])
        frames1 = torch.cat(batches)[: a.naive_frames]
        t_1, _ = timed(lambda: [run_visual(net, frames1[i : i + 1]) for i in range(len(frames1))])
        rows.append((f"{s} network", n / t_b, len(frames1) / t_1))

    audio = align_audio(audio_path, n, a.fps, 16000)
    b = audio.bounds
    t_m, _ = timed(mfcc_per_frame, audio, 26, 26, True)
    t_m1, _ = timed(lambda: [mfcc_per_frame(type(audio)(audio.samples[b[i]:b[i + 1]], 16000, a.fps, 1, 16000,
                                                        1 / a.fps, 0, False), 26, 26, True) for i in range(n)])
    rows.append(("mfcc", n / t_m, n / t_m1))
    if a.backbone == "resnet50":
        from transformers import Wav2Vec2Config, Wav2Vec2Model

        w2v, norm = Wav2Vec2Model(Wav2Vec2Config()).eval(), True  # base-size architecture, random weights
    else:
        w2v, norm = untrained_wav2vec2(0), True
    t_w, _ = timed(wav2vec2_per_frame, w2v, norm, audio)
    rows.append(("wav2vec2 (whole clip)", n / t_w, float("nan")))

    print(f"{'step':<24}{'mafrg fps':>12}{'naive fps':>12}{'ratio':>8}")
    for name, fast, slow in rows:
        ratio = f"{fast / slow:7.1f}x" if slow == slow else "     -"
        slow_s = f"{slow:12.1f}" if slow == slow else f"{'-':>12}"
        print(f"{name:<24}{fast:12.1f}{slow_s}{ratio}")
    print("naive: cv2 frame by frame (decode); batch 1 per forward pass (networks); MFCC called per 40 ms frame")
    print("(decode: mafrg uses decord, as the authors do; OpenCV's FFmpeg decoder is faster on this file)")

    # Storage per stream, as written by mafrg.
    from mafrg.features.parquet import stream_array, write_features

    rng = np.random.default_rng(0)
    per_frame = {}
    for s, d, dt in [("va", 64, "float32"), ("au", 25088, "float16"), ("au_f32", 25088, "float32"),
                     ("fe", 1408, "float32"), ("mfcc", 26, "float32"), ("wav2vec2", 1536, "float32")]:
        vals = np.abs(rng.normal(size=(n, d))).astype(np.float32)  # post-ReLU-like features
        p = tmp / f"{s}.parquet"
        write_features(p, "c", "p", 25, {s: stream_array(vals, dt)}, {})
        per_frame[s] = p.stat().st_size / n
    frames_train = a.train_clips * 751
    print(f"\nstorage (bytes per frame, Parquet zstd; projection for {a.train_clips} training person-clips x 751 "
          f"frames = {frames_train / 1e6:.2f} M frames, assuming 1,594 REACT 2024 training dyads):")
    total16 = 0.0
    for s, b in per_frame.items():
        proj = b * frames_train / 1e9
        if s != "au_f32":
            total16 += proj
        print(f"  {s:<10}{b:12.0f} B/frame   {proj:9.1f} GB")
    print(f"  all five streams (AU as float16): {total16:.1f} GB")
    if a.record:
        bench_results.record("extract_bench.py", f"{n} frames, frames/s mafrg (naive): " + "; ".join(
            f"{name} {fast:.1f}" + (f" ({slow:.1f})" if slow == slow else "") for name, fast, slow in rows)
            + f"; storage {per_frame['au'] / 1e3:.1f} kB/frame AU float16, all five streams {total16:.1f} GB for "
            f"{a.train_clips} training person-clips")


if __name__ == "__main__":
    main()

"""Generation speed on this CPU: reactions per second as a function of sampler steps (ReactDiff, ReactDiff-K).

    python benchmarks/generate_bench.py                   # ReactDiff, demo configuration, T = 750 (a REACT clip)
    python benchmarks/generate_bench.py --preset paper --steps 20 --clips 1   # seconds per reaction
    python benchmarks/generate_bench.py --method ReactDiffK --steps 10 25 50 --guidance 1 2
    python benchmarks/generate_bench.py --any-length --frames 3000 --fps 30   # every method, one long MARS clip

``--any-length``: every method as generation runs it on clips of any length (one row alone at its own length:
ReactDiff chunk by chunk, ReactDiff-K window after window, Efficient Listener over the whole clip from raw frames
and audio), at the preset's sampling settings, on one speaker clip of --frames frames at --fps (wav2vec2 768 wide
at 30 fps); reported as speaker frames per second with --n reactions each, offline and online.

ReactDiff-K: DPM-Solver++(2M) SDE steps per window, windows one after another; a guidance scale other than 1
evaluates the conditional and unconditional model (one batch of 2n). Both methods sample clips in blocks of
``--rows`` (the config's ``generate_rows``; 1 = one clip at a time, as before the blocks).

Speed does not depend on the weights, so the models are randomly initialised (or pass --mmt/--ddim to time
trained checkpoints). Features are random with the real stream sizes. One "reaction" is one generated clip of
T frames (emotion + 3DMM); each speaker clip gets --n reactions, all n x windows denoised in one batch per DDIM
step, offline and online alike, as the workflow does.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from mafrg import bench_results
from mafrg.flops import flops
from timing import allocator_option, apply_allocator, best_time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", choices=["ReactDiff", "ReactDiffK"], default="ReactDiff")
    ap.add_argument("--preset", choices=["demo", "paper"], default="demo")
    ap.add_argument("--guidance", type=float, nargs="+", default=[1.0], help="ReactDiff-K guidance scales")
    ap.add_argument("--frames", type=int, default=750)
    ap.add_argument("--n", type=int, default=10, help="reactions per speaker clip")
    ap.add_argument("--steps", type=int, nargs="+", default=[5, 10, 20], help="DDIM steps (at most ddim.train_timesteps, 20 in both presets)")
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--rows", type=int, nargs="+", default=None,
                    help="clips per batch (default: 1 and the preset's generate_rows)")
    ap.add_argument("--any-length", action="store_true", help="every method on one long clip (see above)")
    ap.add_argument("--fps", type=int, default=30, help="frame rate of --any-length's clip")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="passes over the clips per setting (best and median)")
    ap.add_argument("--mmt")
    ap.add_argument("--ddim")
    ap.add_argument("--override", type=json.loads, default={},
                    help='settings over the preset, as in config.yaml: \'{"ddim": {"num_res_blocks": 1}}\'')
    allocator_option(ap)
    bench_results.add_option(ap)
    a = ap.parse_args()
    memory = apply_allocator(a)
    torch.set_num_threads(a.threads)
    if a.any_length:
        cells = bench_any_length(a, memory)
        if a.record:
            bench_results.record("generate_bench.py", f"{a.preset} presets, one clip of T = {a.frames} "
                                 f"at {a.fps} fps, {a.n} reactions, speaker frames/s offline / online: "
                                 + "; ".join(cells))
        return
    cells = bench_reactdiffk(a, memory) if a.method == "ReactDiffK" else bench_reactdiff(a, memory)
    if a.record:
        bench_results.record("generate_bench.py", f"{a.method} {a.preset}, T = {a.frames}, reactions/s best (median) "
                             "offline / online: " + "; ".join(cells))


def bench_reactdiff(a, memory: str) -> list[str]:
    cells = []
    from mafrg.methods.reactdiff.config import reactdiff_config
    from mafrg.methods.reactdiff.diffusion import LatentDiffusion
    from mafrg.methods.reactdiff.mmt import MMT, STREAM_DIMS
    from mafrg.methods.reactdiff.stages import load_models, react

    if a.mmt and a.ddim:
        mmt, diff, _ = load_models(a.mmt, a.ddim)
    else:
        cfg = reactdiff_config({"preset": a.preset, **a.override})
        torch.manual_seed(0)
        mmt, diff = MMT(cfg.mmt).eval(), LatentDiffusion(cfg.mmt, cfg.ddim).eval()
    feats = {s: torch.randn(a.clips, a.frames, d) for s, d in STREAM_DIMS.items()}
    react(mmt, diff, {s: x[:1] for s, x in feats.items()}, a.frames, a.n, False, 2, 0.0, [0])  # warm-up
    rate = matmul_gflops()
    print(f"preset={a.preset} T={a.frames} reactions/clip={a.n} threads={a.threads} clips={a.clips}; {memory}; "
          f"this CPU's float32 matmul rate {rate:.1f} GFLOP/s")
    for steps in a.steps:  # the arithmetic a reaction needs, and the rate it would allow at the matmul rate
        g = flops(lambda: react(mmt, diff, {s: x[:1] for s, x in feats.items()}, a.frames, a.n, False,
                                          steps, 0.0, [0])) / 1e9 / a.n
        print(f"  {steps} steps: {g:.3f} GFLOP per reaction -> at most {rate / g:.3g} reactions/s at the matmul rate")
    print("reactions/s: best (median) of --repeats passes")
    print(f"{'rows':>5}{'steps':>6}{'offline reactions/s':>26}{'online reactions/s':>26}{'offline s/reaction':>21}")
    # a block holds at most --clips rows: timing 24-row blocks needs --clips 24 or more
    default_rows = (1, reactdiff_config({"preset": a.preset, **a.override}).generate_rows)
    for rows in sorted({min(r, a.clips) for r in a.rows or default_rows}):
        for steps in a.steps:
            def sample(i, j, online, steps=steps):
                return react(mmt, diff, {s: x[i:j] for s, x in feats.items()}, a.frames, a.n, online, steps, 0.0,
                             list(range(i, j)))

            off, on, best = rates(a, rows, sample)
            print(f"{rows:>5}{steps:>6}{off:>26}{on:>26}{1 / best:>21.4f}")
            cells.append(f"{rows} rows, {steps} steps: {off} / {on}")
    return cells


def rates(a, rows: int, sample) -> tuple[str, str, float]:
    """Reactions per second offline and online, the ``a.clips`` clips sampled in blocks of ``rows``
    (``sample(i, j, online)`` generates clips [i, j)), after one unmeasured block at that size (the first call
    of a shape builds oneDNN's kernels, which a split of many blocks pays once). ``a.repeats`` passes over the
    clips: the cells read "best (median)"; also the best offline rate, for seconds per reaction."""
    cells, bests = [], []
    for online in (False, True):
        sample(0, min(rows, a.clips), online)
        got = []
        for _ in range(a.repeats):
            t = time.perf_counter()
            for i in range(0, a.clips, rows):
                sample(i, min(i + rows, a.clips), online)
            got.append(a.clips * a.n / (time.perf_counter() - t))
        cells.append(f"{max(got):.2f} ({statistics.median(got):.2f})")
        bests.append(max(got))
    return cells[0], cells[1], bests[0]


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """The best float32 GFLOP/s of an n x n matmul on this CPU at the current thread count: an upper bound on
    what any of these networks can reach (their layers are far smaller)."""
    x, y = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / best_time(lambda: x @ y, repeats) / 1e9


def bench_reactdiffk(a, memory: str) -> list[str]:
    import numpy as np

    from mafrg.methods import get
    from mafrg.methods.reactdiffk.model import MODALITIES, ReactDiffK, modalities
    from mafrg.methods.reactdiffk.stages import react
    from mafrg.methods.settings import resolve

    cfg = resolve(get("ReactDiffK"), {"preset": a.preset, **a.override}).config
    torch.manual_seed(0)
    model = ReactDiffK(cfg).eval()
    cells = []
    rng = np.random.default_rng(0)
    spk = [{s: rng.normal(size=(a.frames, MODALITIES[s])).astype(np.float32) for s in modalities(cfg)}
           for _ in range(a.clips)]
    react(model, spk[:1], a.n, False, 2, 1.0, [0])  # warm-up
    print(f"ReactDiffK preset={a.preset} T={a.frames} window={cfg.window} reactions/clip={a.n} threads={a.threads} "
          f"clips={a.clips}; {memory}")
    print("reactions/s: best (median) of --repeats passes")
    print(f"{'rows':>5}{'steps':>6}{'guidance':>10}{'offline reactions/s':>26}{'online reactions/s':>26}"
          f"{'offline s/reaction':>21}")
    for rows in sorted({min(r, a.clips) for r in a.rows or (1, cfg.generate_rows)}):
        for steps in a.steps:
            for scale in a.guidance:
                off, on, best = rates(a, rows, lambda i, j, online: react(model, spk[i:j], a.n, online, steps,
                                                                          scale, list(range(i, j))))
                print(f"{rows:>5}{steps:>6}{scale:>10.2f}{off:>26}{on:>26}{1 / best:>21.4f}")
                cells.append(f"{rows} rows, {steps} steps, guidance {scale:g}: {off} / {on}")
    return cells


def bench_any_length(a, memory: str) -> list[str]:
    """Speaker frames per second of each method's generation of one row of --frames frames at --fps."""
    import numpy as np

    from mafrg.methods import get
    from mafrg.methods.settings import resolve

    rng = np.random.default_rng(0)
    t, audio_width = a.frames, 1536 if a.fps == 25 else 768

    def timed(fn) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    def run_reactdiff(online: bool):
        from mafrg.methods.reactdiff.diffusion import LatentDiffusion
        from mafrg.methods.reactdiff.mmt import MMT, STREAM_DIMS
        from mafrg.methods.reactdiff.stages import react_chunks

        cfg = resolve(get("ReactDiff"), {"preset": a.preset}).config
        dims = {**STREAM_DIMS, "wav2vec2": audio_width}
        torch.manual_seed(0)
        mmt, diff = MMT(cfg.mmt, dims).eval(), LatentDiffusion(cfg.mmt, cfg.ddim).eval()
        feats = {s: rng.normal(size=(t, d)).astype(np.float16 if s == "au" else np.float32) for s, d in dims.items()}
        return lambda: react_chunks(mmt, diff, feats, t, cfg.crop, cfg.generate_rows, a.n, online,
                                    cfg.ddim.sample_steps, cfg.ddim.eta, 0)

    def run_reactdiffk(online: bool):
        from mafrg.methods.reactdiffk.model import MODALITIES, ReactDiffK, modalities
        from mafrg.methods.reactdiffk.stages import react

        cfg = resolve(get("ReactDiffK"), {"preset": a.preset, "audio_width": audio_width}).config
        torch.manual_seed(0)
        model = ReactDiffK(cfg).eval()
        spk = {s: rng.normal(size=(t, audio_width if s == "audio" else MODALITIES[s])).astype(np.float32)
               for s in modalities(cfg)}
        return lambda: react(model, [spk], a.n, online, cfg.edm.sample_steps, cfg.guidance.scale, [0])

    def run_efficient_listener(online: bool):
        from mafrg.methods.efficient_listener.model import FacialActionDiffusion
        from mafrg.methods.efficient_listener.stages import SAMPLE_RATE, react

        cfg = resolve(get("EfficientListener"), {"preset": a.preset}).config
        torch.manual_seed(0)
        model = FacialActionDiffusion(cfg).eval()
        s = cfg.perception.image_size
        video = rng.integers(0, 256, (t, s, s, 3), dtype=np.uint8)
        audio = rng.normal(0, 0.1, t * SAMPLE_RATE // a.fps).astype(np.float32)
        return lambda: react(model, t, video, audio, a.n, online, cfg.fad.sample_steps, 0, a.fps)

    cells = []
    print(f"one speaker clip of {t} frames at {a.fps} fps, {a.n} reactions, preset {a.preset}, {a.threads} threads; "
          f"{memory}")
    print(f"{'method':>18}{'offline frames/s':>18}{'online frames/s':>18}{'offline s':>11}")
    for name, make in (("ReactDiff", run_reactdiff), ("EfficientListener", run_efficient_listener),
                       ("ReactDiffK", run_reactdiffk)):
        secs = [timed(make(online)) for online in (False, True)]
        print(f"{name:>18}{t / secs[0]:>18.1f}{t / secs[1]:>18.1f}{secs[0]:>11.1f}")
        cells.append(f"{name} {t / secs[0]:.1f} / {t / secs[1]:.1f}")
    return cells


if __name__ == "__main__":
    main()

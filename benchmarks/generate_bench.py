"""Generation speed on this CPU: reactions per second as a function of sampler steps (ReactDiff, ReactDiff-K).

    python benchmarks/generate_bench.py                   # ReactDiff, demo configuration, T = 750 (a REACT clip)
    python benchmarks/generate_bench.py --preset paper --steps 20 --clips 1   # seconds per reaction
    python benchmarks/generate_bench.py --method ReactDiffK --steps 10 25 50 --guidance 1 2

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


if __name__ == "__main__":
    main()

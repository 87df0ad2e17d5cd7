"""Per-channel statistics (count, mean, spread, range) of many (T, D) blocks: out of core, in parallel (dask).

Why: training normalises its inputs and targets with statistics over every training frame. At MARS size a stream
does not fit in memory (1.7 M frames x 768 wav2vec2 values is 5.2 GB as float32, twice that as float64), and a
loop reading the feature shards one after another leaves the job's other cores idle. Here each block (one clip's
stream, read from its Parquet shard or memory-mapped array by a loader) is reduced by a dask task to its count,
float64 sum and sum of squares, minimum and maximum; only those partials are kept. Partials are folded in block
order, so the result is bit for bit that of a sequential loop whatever the number of threads or workers, and
memory holds about one block per thread (measured: ``benchmarks/moments_bench.py``).

Where it runs: dask's threaded scheduler with the job's threads (reading Parquet and NumPy reductions release the
GIL). With a scheduler address in dask's own configuration (``DASK_SCHEDULER_ADDRESS=tcp://host:8786`` in the
environment, or ``scheduler-address`` in a dask config file), the tasks go to that dask.distributed cluster
instead; its workers must see the same file system (docs/usage.md, "Data larger than memory").
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Moments:
    """Sufficient statistics of a set of frames, per channel (float64)."""

    count: int
    total: np.ndarray
    squares: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray) -> Moments:
        """The statistics of one (T, D) block (T may be 0)."""
        x = np.asarray(x)
        if x.ndim != 2:
            raise ValueError(f"a block of frames must be (T, D), got shape {x.shape}")
        x = x.astype(np.float64, copy=False)
        if len(x) == 0:
            z = np.zeros(x.shape[1])
            return cls(0, z, z.copy(), np.full(x.shape[1], np.inf), np.full(x.shape[1], -np.inf))
        return cls(len(x), x.sum(0), (x * x).sum(0), x.min(0), x.max(0))

    def __add__(self, other: Moments) -> Moments:
        if self.total.shape != other.total.shape:
            raise ValueError(f"blocks of {self.total.shape[0]} and {other.total.shape[0]} channels cannot be pooled")
        return Moments(self.count + other.count, self.total + other.total, self.squares + other.squares,
                       np.minimum(self.lo, other.lo), np.maximum(self.hi, other.hi))

    @property
    def mean(self) -> np.ndarray:
        return self.total / self.count

    def std(self, ddof: int = 0) -> np.ndarray:
        """Standard deviation per channel (``ddof`` 0: population; 1: unbiased)."""
        mu = self.mean
        var = np.maximum(self.squares / self.count - mu * mu, 0.0)
        return np.sqrt(var * (self.count / (self.count - ddof))) if ddof else np.sqrt(var)


def _scheduler_address() -> str | None:
    import dask

    return dask.config.get("scheduler-address", None)  # dask reads "scheduler_address" as the same key


Block = np.ndarray | dict[str, np.ndarray]


def _of(x: Block) -> Moments | dict[str, Moments]:
    return {k: Moments.of(v) for k, v in x.items()} if isinstance(x, dict) else Moments.of(x)


def _add(a: Moments | dict[str, Moments], b: Moments | dict[str, Moments]) -> Moments | dict[str, Moments]:
    if isinstance(a, dict):
        if a.keys() != b.keys():
            raise ValueError(f"blocks with different streams cannot be pooled: {sorted(a)} and {sorted(b)}")
        return {k: a[k] + b[k] for k in a}
    return a + b


def _reduce(load: Callable[[], Block]) -> Moments | dict[str, Moments]:
    """One dask task: load a block and keep only its statistics."""
    return _of(load())


def moments(blocks: Sequence[Callable[[], Block]], threads: int = 1, desc: str | None = None,
            progress: bool = False) -> Moments | dict[str, Moments]:
    """Pool the statistics of every block; ``blocks`` are loaders, each returning one (T, D) array (pooled into
    one :class:`Moments`) or a dict of them by stream name (pooled into a dict of Moments).

    One dask task per block loads and reduces it; partials are added in block order (bit-identical to a loop).
    ``threads`` is the threaded scheduler's worker count (a dask.distributed cluster, when configured, uses its
    own workers). ``progress`` shows a tqdm bar (``desc``) over the blocks."""
    if not blocks:
        raise ValueError(f"no blocks to pool{f' for {desc}' if desc else ''}")
    bar = None
    if progress:
        from mafrg.progress import tqdm

        bar = tqdm(total=len(blocks), desc=desc, unit="clip", leave=False)
    # Blocks go to dask in windows of a few per worker; each window's partials are added to the running total in
    # block order as soon as the window is done (one long chain of dask tasks costs more than the work itself).
    address = _scheduler_address()
    client = None
    try:
        if address:
            try:
                from distributed import Client
            except ImportError as e:  # pragma: no cover - distributed is in the pinned requirements
                raise RuntimeError(f"dask scheduler-address {address!r} is set but dask.distributed is not "
                                   f"installed (pip install distributed)") from e
            client = Client(address)
            window = 4 * max(1, sum(client.nthreads().values()))

            def run(loads):
                return client.gather(client.map(_reduce, loads, pure=False))
        else:
            from dask.threaded import get

            workers = max(1, threads)
            window = 4 * workers

            def run(loads):
                keys = [("block", i) for i in range(len(loads))]
                return get({k: (_reduce, load) for k, load in zip(keys, loads)}, keys, num_workers=workers)

        pooled = None
        for start in range(0, len(blocks), window):
            for part in run(list(blocks[start:start + window])):
                pooled = part if pooled is None else _add(pooled, part)
            if bar is not None:
                bar.update(min(window, len(blocks) - start))
        return pooled
    finally:
        if client is not None:
            client.close()
        if bar is not None:
            bar.close()

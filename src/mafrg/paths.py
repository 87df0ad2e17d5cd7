"""Where every artefact lives. The workflow builds its rule patterns from these functions (passing wildcard
placeholders such as ``"{split}"``) and the CLI finds its inputs with the same functions, so the two can never
disagree about a path.

    results/data/{split}.npz                                    assembled split (emotion, 3DMM, row order)
    results/features/{split}/{rel}.parquet                      feature file of one (clip, person)
    results/features/{split}/{site}/{session}.json              record of the job that extracted a session
    results/models/{method}/seed{seed}/{stage}.pt               a trained stage (+ _losses.csv, _state/)
    results/predictions/{split}/{label}/seed{seed}/{shard}.npy  reactions of one row shard (+ _3dmm.npy, .json)
    results/metrics/{split}/{label}/seed{seed}/{shard}.parquet  per-row metric contributions of that shard
    results/metrics/{split}/{label}/seed{seed}.json             split-level REACT metrics of one run
    results/metrics/{split}/{label}/seed{seed}.split.json       split metrics (realism, listener, smoothness)
    results/cache/{name}/{split}/...                            re-creatable per-clip inputs of a method
    results/submission/{method}/manifest.json                   a challenge package (snakemake submission)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Paths:
    results: str
    root: str  # dataset root (REACT layout)

    # ------------------------------------------------------------------------------------------ dataset
    def split_csv(self, split: str) -> str:
        return f"{self.root}/{split}.csv"

    def validation(self, split: str) -> str:
        return f"{self.results}/validation/{split}.json"

    def split_data(self, split: str) -> str:
        return f"{self.results}/data/{split}.npz"

    def neighbours(self, split: str) -> str:
        return f"{self.results}/neighbours/{split}.npy"

    # ----------------------------------------------------------------------------------------- features
    def features_root(self) -> str:
        return f"{self.results}/features"

    def feature_file(self, split: str, rel: str) -> str:
        return f"{self.results}/features/{split}/{rel}.parquet"

    def features_session(self, split: str, session: str) -> str:
        """The record one extraction job writes after its session's feature files (``session``: <site>/<session>)."""
        return f"{self.results}/features/{split}/{session}.json"

    def features_manifest(self, split: str) -> str:
        return f"{self.results}/features/{split}.manifest.json"

    def cache(self, name: str, split: str) -> str:
        """A method's re-creatable per-clip inputs (e.g. Efficient Listener's 96 x 96 frame stream)."""
        return f"{self.results}/cache/{name}/{split}"

    # ------------------------------------------------------------------------------------------- models
    def model_dir(self, method: str, seed: int | str) -> str:
        return f"{self.results}/models/{method}/seed{seed}"

    def model(self, method: str, seed: int | str, stage: str) -> str:
        return f"{self.model_dir(method, seed)}/{stage}.pt"

    def model_sidecar(self, method: str, seed: int | str, stage: str) -> str:
        """The checksum sidecar written after a model (mafrg.checkpoint)."""
        return f"{self.model_dir(method, seed)}/{stage}.pt.sha256"

    def losses(self, method: str, seed: int | str, stage: str) -> str:
        return f"{self.model_dir(method, seed)}/{stage}_losses.csv"

    def train_state(self, method: str, seed: int | str, stage: str) -> str:
        return f"{self.model_dir(method, seed)}/{stage}_state"

    # -------------------------------------------------------------------------------------- predictions
    def prediction(self, split: str, label: str, seed: int | str, shard: str) -> str:
        return f"{self.results}/predictions/{split}/{label}/seed{seed}/{shard}.npy"

    def metric_shard(self, split: str, label: str, seed: int | str, shard: str) -> str:
        return f"{self.results}/metrics/{split}/{label}/seed{seed}/{shard}.parquet"

    def metrics(self, split: str, label: str, seed: int | str) -> str:
        return f"{self.results}/metrics/{split}/{label}/seed{seed}.json"

    def split_metrics(self, split: str, label: str, seed: int | str) -> str:
        return f"{self.results}/metrics/{split}/{label}/seed{seed}.split.json"

    # ------------------------------------------------------------------------------------------- report
    def report_dir(self) -> str:
        return f"{self.results}/report"

    # --------------------------------------------------------------------------------------- submission
    def submission(self, method: str) -> str:
        """A challenge package (its manifest.json at the top; see mafrg.submission)."""
        return f"{self.results}/submission/{method}"

    def submission_manifest(self, method: str) -> str:
        return f"{self.submission(method)}/manifest.json"

    def submission_archive(self, method: str, kind: str) -> str:
        """The package as one file (``kind``: zip | tar.gz; as mafrg.submission.pack.archive_path)."""
        return f"{self.submission(method)}.{kind}"

    def log(self, name: str) -> str:
        return f"{self.results}/logs/{name}.log"

    def benchmark(self, name: str) -> str:
        """Snakemake's ``benchmark:`` file of one job: ``<rule>/<the job's wildcards>``."""
        return f"{self.results}/benchmarks/{name}.tsv"

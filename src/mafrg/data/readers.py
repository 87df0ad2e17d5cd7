"""Readers for one clip's tables (emotion, 3DMM, audio features), each raising :class:`DataError` that names the file
and the problem. Video and audio are probed and decoded by :mod:`mafrg.media`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mafrg.constants import EMOTION_COLUMNS, N_3DMM, N_AU, N_EMOTION
from mafrg.errors import DataError

# Value ranges of the 25 emotion channels (REACT: binary AU occurrences, valence/arousal in [-1, 1],
# expression probabilities) and the tolerance for values exported with rounding.
EMOTION_RANGES: tuple[tuple[int, int, float, float], ...] = ((0, N_AU, 0.0, 1.0), (N_AU, N_AU + 2, -1.0, 1.0),
                                                             (N_AU + 2, N_EMOTION, 0.0, 1.0))
RANGE_TOLERANCE = 1e-3


def _canonical(name: str) -> str:
    """Header names compared without case, spaces or zero-padding (AU01 == au1)."""
    n = str(name).strip().lower().replace(" ", "").replace("_", "")
    return re.sub(r"^au0+(\d)", r"au\1", n)


def read_emotion(path: str | Path, check_header: bool = True) -> np.ndarray:
    """Emotion file -> (T, 25) float32: REACT 2024's CSV or MARS's facial-attributes .npy, numeric, finite values
    in each channel's range (± RANGE_TOLERANCE). A CSV has one header row naming the 25 REACT columns in their
    order (case, spaces and zero-padding aside; ``check_header=False`` trusts the order alone)."""
    import pandas as pd  # lazily: the extraction jobs import this module but read no CSV

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: emotion file missing")
    if path.suffix == ".npy":
        return _check_emotion(path, _read_matrix(path, N_EMOTION, "emotion channels"))
    _check_field_counts(path)
    try:
        df = pd.read_csv(path)
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{path}: cannot be parsed as CSV ({exc})") from exc
    # Some REACT exports carry a leading unnamed index column: drop it when it is exactly that.
    if df.shape[1] == N_EMOTION + 1 and str(df.columns[0]).startswith("Unnamed"):
        df = df.iloc[:, 1:]
    if df.shape[1] != N_EMOTION:
        raise DataError(
            f"{path}: expected {N_EMOTION} columns ({' '.join(EMOTION_COLUMNS)}), found {df.shape[1]}"
        )
    if len(df) == 0:
        raise DataError(f"{path}: no data rows")
    if check_header:
        with open(path, encoding="utf-8", errors="replace") as fh:
            first = fh.readline().strip().split(",")
        if all(_is_number(c) for c in first[-N_EMOTION:]):
            raise DataError(f"{path}: the header row is missing (the first row holds numbers); expected the "
                            f"names {' '.join(EMOTION_COLUMNS)}")
        wrong = [f"column {i + 1} is {str(got).strip()!r}, expected {want!r}"
                 for i, (got, want) in enumerate(zip(df.columns, EMOTION_COLUMNS)) if _canonical(got) != _canonical(want)]
        if wrong:
            raise DataError(f"{path}: header does not name the REACT emotion columns in order: " + "; ".join(wrong)
                            + " (set dataset.check_emotion_header: false to trust the column order)")
    values = df.apply(pd.to_numeric, errors="coerce")
    bad_text = values.isna() & df.notna()
    if bad_text.to_numpy().any():
        r, c = np.argwhere(bad_text.to_numpy())[0]
        raise DataError(f"{path}: non-numeric value {df.iat[r, c]!r} at data row {r + 1}, column {df.columns[c]}")
    return _check_emotion(path, values.to_numpy(dtype=np.float64))


def _check_emotion(path: Path, arr: np.ndarray) -> np.ndarray:
    """Finite values in each channel's range -> float32."""
    _check_finite(path, arr, list(EMOTION_COLUMNS))
    for a, b, lo, hi in EMOTION_RANGES:
        bad = (arr[:, a:b] < lo - RANGE_TOLERANCE) | (arr[:, a:b] > hi + RANGE_TOLERANCE)
        if bad.any():
            r, c = np.argwhere(bad)[0]
            raise DataError(f"{path}: {int(bad.sum())} value(s) out of range; first {arr[r, a + c]:g} at data row "
                            f"{r + 1}, column {EMOTION_COLUMNS[a + c]} (expected [{lo:g}, {hi:g}])")
    return arr.astype(np.float32)


def _check_field_counts(path: Path) -> None:
    """Every data row has as many fields as the header: a short or long row would otherwise be read as NaN in
    the last channel or shift the columns."""
    import csv

    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        rows = csv.reader(fh)
        header = next(rows, None)
        if header is None:
            raise DataError(f"{path}: empty file")
        for r, row in enumerate(rows, start=1):
            if row and len(row) != len(header):
                raise DataError(f"{path}: data row {r} has {len(row)} fields, the header has {len(header)} "
                                f"(a REACT emotion row has {N_EMOTION})")


def _is_number(x) -> bool:
    try:
        float(x)
    except (TypeError, ValueError):
        return False
    return True


def read_tdmm(path: str | Path) -> np.ndarray:
    """3DMM .npy -> (T, 58) float32 (52 expression, 3 rotation, 3 translation), finite."""
    return _read_finite(path, N_3DMM, "3DMM", "3DMM coefficients", "coef")


AUDIO_FEATURE_DIM = 768  # MARS's precomputed wav2vec2-base features


def read_audio_features(path: str | Path) -> np.ndarray:
    """Precomputed audio features .npy (MARS ``audio-features``) -> (T, 768) float32, finite."""
    return _read_finite(path, AUDIO_FEATURE_DIM, "audio-features", "wav2vec2 features", "dim")


def _read_finite(path: str | Path, width: int, kind: str, what: str, column: str) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {kind} file missing")
    arr = _read_matrix(path, width, what)
    _check_finite(path, arr, [f"{column}{i}" for i in range(width)])
    return arr.astype(np.float32)


def _read_matrix(path: Path, width: int, what: str) -> np.ndarray:
    """A (T, width) real .npy as float64; a leading singleton axis (REACT and MARS store some files as
    (1, T, width)) is dropped; no rows is an error."""
    from mafrg.io import FileFormatError, load_npy

    try:
        arr = load_npy(path)
    except FileFormatError as exc:
        raise DataError(str(exc)) from exc
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2 or arr.shape[1] != width:
        raise DataError(f"{path}: expected shape (T, {width}) of {what}, found {arr.shape}")
    if not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"{path}: expected numbers, found dtype {arr.dtype}")
    if arr.shape[0] == 0:
        raise DataError(f"{path}: no frames")
    return arr.astype(np.float64)


def _check_finite(path: Path, arr: np.ndarray, names: list[str]) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        kind = "NaN" if np.isnan(arr[r, c]) else "inf"
        raise DataError(
            f"{path}: {int(bad.sum())} non-finite value(s); first is {kind} at data row {r + 1}, column {names[c]}"
        )


def fit_length(arr: np.ndarray, length: int, path: str | Path, pad: bool) -> np.ndarray:
    """Truncate to ``length`` frames; shorter input is an error unless ``pad`` (repeat the last frame)."""
    n = arr.shape[0]
    if n >= length:
        return arr[:length]
    if not pad:
        raise DataError(
            f"{path}: {n} frames, shorter than clip_length {length} (set dataset.pad_short to pad by repeating the last frame)"
        )
    return np.concatenate([arr, np.repeat(arr[-1:], length - n, axis=0)], axis=0)

"""A small 2-D face renderer driven by 58 3DMM coefficients.

Why our own renderer: the REACT challenge renders reactions with a 3DMM mesh renderer (FaceVerse/PIRender),
whose weights cannot be shipped or downloaded here. mafrg needs a renderer that (a) makes the demo dataset's
videos from the same state that produced its 3DMM/AU annotations, and (b) later renders *generated*
reactions for the report. So the renderer takes only what a generator outputs: the 58 coefficients
(52 expression, 3 rotation, 3 translation) and an optional identity.

How expression becomes geometry: the demo data's 52 expression coefficients are a fixed linear function of 15
continuous AU intensities (``EXPRESSION_BASIS``, a seed-independent orthonormal-column matrix). The renderer
inverts it (least squares, clipped to [0, 1]) to get AU-like activations that move brows, eyelids, cheeks,
nose and mouth; rotation moves and turns the head, translation shifts and scales it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np

from mafrg.atomic import atomic_dir, atomic_path
from mafrg.constants import AU_NAMES, N_3DMM, N_3DMM_EXPRESSION, N_AU, ROTATION_SLICE, TRANSLATION_SLICE

_AU = {name: i for i, name in enumerate(AU_NAMES)}
_SHIFT = 4  # cv2 fixed-point sub-pixel bits
_SCALE = float(1 << _SHIFT)


def _make_basis() -> np.ndarray:
    # Fixed seed on purpose: the basis is part of the data format, not of a dataset's randomness.
    rng = np.random.default_rng(20240521)
    q, _ = np.linalg.qr(rng.normal(size=(N_3DMM_EXPRESSION, N_AU)))
    return (q * 0.8).astype(np.float64)


EXPRESSION_BASIS: np.ndarray = _make_basis()  # (52, 15)
_BASIS_PINV: np.ndarray = np.linalg.pinv(EXPRESSION_BASIS)  # (15, 52)


def au_to_expression(au: np.ndarray) -> np.ndarray:
    """Continuous AU intensities (..., 15) -> 52 expression coefficients (..., 52)."""
    return np.asarray(au, dtype=np.float64) @ EXPRESSION_BASIS.T


def expression_to_au(expr: np.ndarray) -> np.ndarray:
    """Least-squares inverse of :func:`au_to_expression`, clipped to the AU range [0, 1]."""
    return np.clip(np.asarray(expr, dtype=np.float64) @ _BASIS_PINV.T, 0.0, 1.0)


@dataclass(frozen=True)
class FaceIdentity:
    """Appearance of one person; nothing here changes over time."""

    skin: tuple[int, int, int] = (150, 180, 215)  # BGR
    hair: tuple[int, int, int] = (40, 50, 70)
    background: tuple[int, int, int] = (90, 80, 70)
    face_width: float = 1.0
    face_height: float = 1.0
    eye_gap: float = 1.0
    mouth_width: float = 1.0

    @classmethod
    def random(cls, rng: np.random.Generator) -> "FaceIdentity":
        tone = rng.uniform(0.35, 1.0)
        skin = (int(90 + 80 * tone), int(120 + 80 * tone), int(150 + 90 * tone))
        hair = tuple(int(v) for v in rng.integers(10, 120, size=3))
        bg = tuple(int(v) for v in rng.integers(40, 140, size=3))
        return cls(
            skin=skin, hair=hair, background=bg,  # type: ignore[arg-type]
            face_width=float(rng.uniform(0.88, 1.12)), face_height=float(rng.uniform(0.9, 1.1)),
            eye_gap=float(rng.uniform(0.88, 1.12)), mouth_width=float(rng.uniform(0.85, 1.15)),
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FaceIdentity":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _pts(points: np.ndarray) -> np.ndarray:
    return np.round(points * _SCALE).astype(np.int32).reshape(-1, 1, 2)


def _bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, n: int = 12) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


def render_frame(coeffs: np.ndarray, identity: FaceIdentity | None = None, size: int = 256) -> np.ndarray:
    """Render one frame (size x size x 3, uint8 BGR) from a 58-d 3DMM coefficient vector."""
    coeffs = np.asarray(coeffs, dtype=np.float64)
    if coeffs.shape != (N_3DMM,):
        raise ValueError(f"render_frame expects {N_3DMM} 3DMM coefficients, got shape {coeffs.shape}")
    ident = identity or FaceIdentity()
    au = expression_to_au(coeffs[:N_3DMM_EXPRESSION])
    pitch, yaw, roll = np.clip(coeffs[ROTATION_SLICE], -0.8, 0.8)
    tx, ty, tz = np.clip(coeffs[TRANSLATION_SLICE], -0.3, 0.3)
    a = {name: float(au[i]) for name, i in _AU.items()}

    img = np.empty((size, size, 3), np.uint8)
    img[:] = ident.background
    s = float(size)
    cx = s / 2 + (tx + 0.55 * yaw) * s * 0.5
    cy = s / 2 + (ty + 0.55 * pitch) * s * 0.5
    scale = 1.0 + tz
    fw = 0.30 * s * ident.face_width * scale
    fh = 0.38 * s * ident.face_height * scale
    yaw_squash = max(0.55, math.cos(yaw))
    # Features shift toward the turning side and up/down with pitch: a cheap perspective cue.
    fx_shift = math.sin(yaw) * fw * 0.45
    fy_shift = math.sin(pitch) * fh * 0.35
    rot = cv2.getRotationMatrix2D((0.0, 0.0), math.degrees(roll), 1.0)[:, :2]

    def place(local: np.ndarray) -> np.ndarray:
        local = np.atleast_2d(local).astype(np.float64).copy()
        local[:, 0] = local[:, 0] * yaw_squash + fx_shift
        local[:, 1] = local[:, 1] + fy_shift
        return local @ rot.T + np.array([cx, cy])

    aa = cv2.LINE_AA
    # Hair (behind), then face.
    hair = cv2.ellipse2Poly((0, 0), (int(fw * 1.08), int(fh * 1.05)), 0, 180, 360, 10)
    hair = place(hair.astype(np.float64) - np.array([0.0, fh * 0.08]))
    cv2.fillPoly(img, [_pts(hair)], ident.hair, aa, _SHIFT)
    face = cv2.ellipse2Poly((0, 0), (int(fw), int(fh)), 0, 0, 360, 8).astype(np.float64)
    face[:, 0] = face[:, 0] * yaw_squash  # undo the feature shift for the outline: the outline turns less
    face_pts = face @ rot.T + np.array([cx, cy])
    cv2.fillPoly(img, [_pts(face_pts)], ident.skin, aa, _SHIFT)

    dark = tuple(int(v * 0.35) for v in ident.skin)
    # Cheeks (AU6): rosy patches.
    if a["AU6"] > 0.05:
        overlay = img.copy()
        for side in (-1, 1):
            c = place(np.array([side * fw * 0.42, fh * 0.18]))[0]
            cv2.circle(overlay, tuple(_pts(c).ravel()), int(fw * 0.16 * _SCALE), (120, 110, 230), -1, aa, _SHIFT)
        cv2.addWeighted(overlay, 0.55 * a["AU6"], img, 1 - 0.55 * a["AU6"], 0, img)

    eye_dx = fw * 0.38 * ident.eye_gap
    eye_y = -fh * 0.12
    openness = float(np.clip(1.0 - 0.65 * a["AU7"] - 0.35 * a["AU6"] + 0.35 * (a["AU1"] + a["AU2"]) / 2, 0.08, 1.4))
    for side in (-1, 1):
        c = np.array([side * eye_dx, eye_y])
        eye = cv2.ellipse2Poly((0, 0), (int(fw * 0.15), max(1, int(fh * 0.07 * openness))), 0, 0, 360, 15)
        eye_pts = place(eye.astype(np.float64) + c)
        cv2.fillPoly(img, [_pts(eye_pts)], (245, 245, 245), aa, _SHIFT)
        pupil = place(c + np.array([yaw * fw * 0.05, 0.0]))[0]
        cv2.circle(img, tuple(_pts(pupil).ravel()), int(fw * 0.055 * min(1.0, openness + 0.2) * _SCALE),
                   (40, 30, 20), -1, aa, _SHIFT)
        # Brows: AU1 raises the inner end, AU2 the outer end, AU4 lowers and pulls the inner end down.
        raise_in = fh * (0.10 * a["AU1"] - 0.07 * a["AU4"])
        raise_out = fh * (0.10 * a["AU2"] - 0.02 * a["AU4"])
        base = eye_y - fh * 0.13
        inner = np.array([side * eye_dx * 0.45, base - raise_in])
        outer = np.array([side * eye_dx * 1.45, base - raise_out + fh * 0.01])
        mid = (inner + outer) / 2 - np.array([0.0, fh * 0.03])
        brow = place(_bezier(inner, mid, outer))
        cv2.polylines(img, [_pts(brow)], False, ident.hair, max(2, int(s * 0.018)), aa, _SHIFT)

    # Nose, wrinkled by AU9.
    nose = place(np.array([[0.0, -fh * 0.02], [-fw * 0.06, fh * 0.18], [fw * 0.06, fh * 0.20]]))
    cv2.polylines(img, [_pts(nose)], False, dark, max(1, int(s * 0.008)), aa, _SHIFT)
    if a["AU9"] > 0.2:
        for side in (-1, 1):
            wr = place(np.array([[side * fw * 0.05, -fh * 0.02], [side * fw * 0.13, fh * 0.05]]))
            cv2.polylines(img, [_pts(wr)], False, dark, 1, aa, _SHIFT)

    # Mouth.
    mw = fw * 0.36 * ident.mouth_width * (1 + 0.35 * a["AU12"] + 0.2 * a["AU14"] - 0.25 * a["AU23"] - 0.15 * a["AU24"])
    my = fh * 0.48
    corner_lift = fh * (0.10 * a["AU12"] - 0.09 * a["AU15"] + 0.02 * a["AU14"])
    upper_raise = fh * (0.05 * a["AU10"] - 0.02 * a["AU24"])
    chin_push = fh * 0.03 * a["AU17"]
    opening = fh * (0.10 * a["AU25"] + 0.16 * a["AU26"]) * (1 - 0.6 * a["AU24"])
    left = np.array([-mw, my - corner_lift])
    right = np.array([mw, my - corner_lift])
    upper = _bezier(left, np.array([0.0, my - upper_raise - 0.5 * opening - corner_lift * 0.2]), right)
    lower = _bezier(right, np.array([0.0, my + opening + corner_lift * 0.9 - chin_push]), left)
    lips = place(np.vstack([upper, lower]))
    lip_colour = (90, 80, 175)
    if opening > fh * 0.015:
        cv2.fillPoly(img, [_pts(lips)], (40, 25, 60), aa, _SHIFT)
        cv2.polylines(img, [_pts(lips)], True, lip_colour, max(2, int(s * 0.014)), aa, _SHIFT)
    else:
        cv2.polylines(img, [_pts(lips)], True, lip_colour, max(2, int(s * 0.016)), aa, _SHIFT)
    return img


def render_sequence(coeffs: np.ndarray, identity: FaceIdentity | None = None, size: int = 256) -> Iterator[np.ndarray]:
    coeffs = np.asarray(coeffs)
    if coeffs.ndim != 2 or coeffs.shape[1] != N_3DMM:
        raise ValueError(f"render_sequence expects (T, {N_3DMM}) coefficients, got {coeffs.shape}")
    for row in coeffs:
        yield render_frame(row, identity, size)


def write_mp4(frames: Iterable[np.ndarray], path: str | Path, fps: float = 25.0) -> int:
    """Write BGR frames to an MPEG-4 Part 2 (mp4v) file atomically; returns the frame count."""
    n = 0
    with atomic_path(path, suffix=".mp4") as tmp:
        writer = None
        try:
            for frame in frames:
                if writer is None:
                    h, w = frame.shape[:2]
                    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
                    if not writer.isOpened():
                        raise RuntimeError(f"OpenCV could not open an mp4v writer for {path}")
                writer.write(frame)
                n += 1
        finally:
            if writer is not None:
                writer.release()
        if n == 0:
            raise ValueError(f"no frames to write to {path}")
    return n


def write_png_folder(frames: Iterable[np.ndarray], folder: str | Path) -> int:
    """Write frames as ``1.png ... N.png`` (the REACT image-folder layout), atomically as a folder."""
    n = 0
    with atomic_dir(folder) as tmp:
        for n, frame in enumerate(frames, start=1):
            if not cv2.imwrite(str(tmp / f"{n}.png"), frame):
                raise RuntimeError(f"could not write frame {n} of {folder}")
    return n

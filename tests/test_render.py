"""The renderer: 3DMM coefficients visibly move head, brows, eyes and mouth."""

from __future__ import annotations

import numpy as np
import pytest

from mafrg.constants import AU_NAMES
from mafrg.render import FaceIdentity, au_to_expression, expression_to_au, render_frame

AU = {n: i for i, n in enumerate(AU_NAMES)}


def coeffs(au=None, pose=(0, 0, 0), trans=(0, 0, 0)):
    a = np.zeros(15)
    for k, v in (au or {}).items():
        a[AU[k]] = v
    return np.concatenate([au_to_expression(a), pose, trans])


def test_expression_basis_round_trip():
    au = np.random.default_rng(0).random((20, 15))
    np.testing.assert_allclose(expression_to_au(au_to_expression(au)), au, atol=1e-10)


def _diff(a, b, rows=slice(None), cols=slice(None)):
    return np.abs(a[rows, cols].astype(int) - b[rows, cols].astype(int)).sum()


def test_face_parts_move():
    s = 128
    base = render_frame(coeffs(), FaceIdentity(), s)
    jaw = render_frame(coeffs({"AU25": 1, "AU26": 1}), FaceIdentity(), s)
    brows = render_frame(coeffs({"AU1": 1, "AU2": 1}), FaceIdentity(), s)
    squint = render_frame(coeffs({"AU7": 1}), FaceIdentity(), s)
    turned = render_frame(coeffs(pose=(0.0, 0.4, 0.0)), FaceIdentity(), s)
    lower, upper = slice(int(0.65 * s), s), slice(0, int(0.45 * s))
    assert _diff(base, jaw, lower) > 10 * max(1, _diff(base, jaw, upper))  # mouth opens, brows stay
    assert _diff(base, brows, upper) > 10 * max(1, _diff(base, brows, lower))
    assert _diff(base, squint, upper) > 0
    mask = lambda img: (np.abs(img.astype(int) - np.array(FaceIdentity().background)).sum(axis=2) > 30)
    cx_base = np.nonzero(mask(base))[1].mean()
    cx_turn = np.nonzero(mask(turned))[1].mean()
    assert cx_turn - cx_base > 5  # yaw moves the head


def test_render_rejects_wrong_size():
    with pytest.raises(ValueError, match="58 3DMM coefficients"):
        render_frame(np.zeros(57))

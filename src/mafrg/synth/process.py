"""The generative process of the demo dataset: speaker behaviour, and a listener that reacts to it.

Everything a model could learn is here, so it is written out in full (docs/usage.md summarises it):

Per person (drawn once per session): a face identity (renderer only) and a listener *style*:
  lag ~ U(0.3, 0.8) s, gain ~ U(0.5, 1.0), valence bias ~ N(0, 0.12), expressiveness ~ U(0.8, 1.25),
  nod probability ~ U(0.5, 0.95), own-noise scale ~ U(0.12, 0.25).

Speaker, per clip:
  * turn structure: utterances of U(1.5, 4) s separated by pauses of U(0.4, 1.5) s;
  * valence v and arousal a: smooth Ornstein-Uhlenbeck processes (time constant 1.5-3 s) squashed by tanh,
    arousal lifted while speaking;
  * syllable rhythm ~4-5 Hz while speaking drives lips part (AU25) and jaw drop (AU26);
  * 15 AU intensities = sigmoids of affine functions of (v, a, speaking, syllable) with a shared smile factor
    so AU6 and AU12 co-occur, brow raisers (AU1, AU2) with arousal, AU4/AU9/AU10/AU15/AU17 with negative
    valence, plus small per-AU noise; the CSV stores them binarised at 0.5 like REACT's AU columns;
  * 8 expression probabilities = softmax of logits that are functions of (v, a) and of AU1, AU9, AU14;
  * 52 expression coefficients = the renderer's fixed basis applied to the continuous AUs + small noise;
  * head pose: OU drift of pitch/yaw/roll (~0.06 rad), more motion while speaking; translation drifts slowly.

Listener, per clip (the part that makes the task learnable and one-to-many):
  * valence_l(t) = tanh(bias + gain * v_s(t - lag) + own OU noise), arousal_l(t) likewise with 0.6 * gain
    and a lower baseline (listeners are calmer);
  * at each speaker pause onset, with the style's nod probability, a nod (damped 2 Hz pitch oscillation)
    starts after the lag, with a short smile burst when the listener's valence is positive;
  * the listener does not speak (AU25/AU26 only from its own small noise);
  * AUs, expressions and 3DMM follow from (v_l, a_l) exactly as for the speaker.
Because the listener's own noise, lag and gain vary, one speaker behaviour has several appropriate reactions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.signal import lfilter

from mafrg.constants import AU_NAMES, N_3DMM, N_EMOTION
from mafrg.render import FaceIdentity, au_to_expression

_AU = {name: i for i, name in enumerate(AU_NAMES)}


@dataclass(frozen=True)
class ListenerStyle:
    lag_s: float
    gain: float
    valence_bias: float
    expressiveness: float
    nod_prob: float
    noise: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> "ListenerStyle":
        return cls(
            lag_s=float(rng.uniform(0.3, 0.8)), gain=float(rng.uniform(0.5, 1.0)),
            valence_bias=float(rng.normal(0.0, 0.12)), expressiveness=float(rng.uniform(0.8, 1.25)),
            nod_prob=float(rng.uniform(0.5, 0.95)), noise=float(rng.uniform(0.12, 0.25)),
        )


@dataclass(frozen=True)
class Person:
    name: str
    identity: FaceIdentity
    style: ListenerStyle

    def to_dict(self) -> dict:
        return {"name": self.name, "identity": self.identity.to_dict(), "style": asdict(self.style)}


@dataclass
class Behaviour:
    """Per-frame state of one person in one clip."""

    emotion: np.ndarray  # (T, 25) float32: binary AUs, valence, arousal, expression probabilities
    tdmm: np.ndarray  # (T, 58) float32
    speaking: np.ndarray  # (T,) bool


def _ou(rng: np.random.Generator, n: int, fps: float, tau_s: float, std: float) -> np.ndarray:
    """Stationary Ornstein-Uhlenbeck process sampled at fps (exact discretisation).

    x[0] ~ N(0, std^2), x[t] = phi x[t-1] + e[t]; run as an IIR filter (8x faster than a Python loop,
    same draws, bit-identical output).
    """
    phi = np.exp(-1.0 / (tau_s * fps))
    eps = rng.normal(0.0, std * np.sqrt(1 - phi**2), size=n)
    eps[0] = rng.normal(0.0, std)
    return lfilter([1.0], [1.0, -phi], eps)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def turn_structure(rng: np.random.Generator, n: int, fps: float) -> np.ndarray:
    """Boolean speaking mask: utterances U(1.5, 4) s separated by pauses U(0.4, 1.5) s."""
    speaking = np.zeros(n, bool)
    t = int(rng.uniform(0.0, 0.8) * fps)
    while t < n:
        dur = int(rng.uniform(1.5, 4.0) * fps)
        speaking[t : t + dur] = True
        t += dur + int(rng.uniform(0.4, 1.5) * fps)
    return speaking


def _syllables(rng: np.random.Generator, speaking: np.ndarray, fps: float) -> np.ndarray:
    n = len(speaking)
    rate = rng.uniform(4.0, 5.0)
    phase = np.cumsum(2 * np.pi * rate * (1 + 0.15 * _ou(rng, n, fps, 0.5, 1.0)) / fps)
    return speaking * (0.5 + 0.5 * np.sin(phase)) ** 1.5


def aus_from_state(
    v: np.ndarray, a: np.ndarray, speak: np.ndarray, syl: np.ndarray, expressiveness: float,
    noise: np.ndarray,
) -> np.ndarray:
    """Continuous AU intensities (T, 15) in [0, 1] from valence, arousal and speech activity."""
    e = expressiveness
    smile = e * (3.2 * v - 0.3)  # shared factor: AU6 and AU12 co-occur in smiles
    z = np.empty((len(v), 15))
    z[:, _AU["AU1"]] = e * (2.4 * a - 0.7) + 0.3 * speak
    z[:, _AU["AU2"]] = e * (2.2 * a - 0.9) + 0.2 * speak
    z[:, _AU["AU4"]] = e * (-2.8 * v + 0.4 * a - 1.0)
    z[:, _AU["AU6"]] = smile - 0.4
    z[:, _AU["AU7"]] = e * (-1.6 * v + 1.2 * a - 0.9)
    z[:, _AU["AU9"]] = e * (-2.5 * v - 0.5 * a - 1.2)
    z[:, _AU["AU10"]] = e * (-2.0 * v - 1.1) + 0.5 * speak
    z[:, _AU["AU12"]] = smile
    z[:, _AU["AU14"]] = e * (0.8 * v - 1.5 * a - 1.0)
    z[:, _AU["AU15"]] = e * (-2.6 * v - 1.0 * a - 1.2)
    z[:, _AU["AU17"]] = e * (-2.0 * v - 0.9)
    z[:, _AU["AU23"]] = e * (-1.6 * v + 1.4 * a - 1.1)
    z[:, _AU["AU24"]] = e * (-1.8 * a - 0.6) - 1.0 * speak
    z[:, _AU["AU25"]] = 5.0 * syl + 1.2 * speak - 0.8 + 0.6 * a  # lips also part at rest
    z[:, _AU["AU26"]] = 6.0 * syl - 1.1 + 0.8 * a
    return _sigmoid(z + noise)


def expressions_from_state(v: np.ndarray, a: np.ndarray, au: np.ndarray) -> np.ndarray:
    """Expression probabilities (T, 8): Neutral Happy Sad Surprise Fear Disgust Anger Contempt."""
    logits = np.stack(
        [
            1.2 - 2.2 * (np.abs(v) + np.abs(a)),
            3.0 * v + 1.0 * au[:, _AU["AU12"]],
            -2.4 * v - 1.2 * a,
            2.6 * a + 1.0 * au[:, _AU["AU1"]] - 0.5,
            -1.6 * v + 1.8 * a - 1.0,
            -2.0 * v - 0.6 * a + 1.5 * au[:, _AU["AU9"]] - 0.8,
            -2.0 * v + 1.6 * a - 0.8,
            -1.0 * v - 1.0 * a + 1.5 * au[:, _AU["AU14"]] - 1.0,
        ],
        axis=1,
    )
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(1.6 * logits)
    return p / p.sum(axis=1, keepdims=True)


def _assemble(
    rng: np.random.Generator, v: np.ndarray, a: np.ndarray, speak: np.ndarray, syl: np.ndarray,
    expressiveness: float, pose: np.ndarray,
) -> Behaviour:
    n = len(v)
    # Fast per-AU noise: AU detectors flicker, so every AU fires now and then in a clip.
    au_noise = np.stack([_ou(rng, n, 25.0, 0.2, 0.9) for _ in range(15)], axis=1)
    au = aus_from_state(v, a, speak.astype(float), syl, expressiveness, au_noise)
    expr = expressions_from_state(v, a, au)
    emotion = np.concatenate([(au > 0.5).astype(np.float64), v[:, None], a[:, None], expr], axis=1)
    tdmm = np.empty((n, N_3DMM))
    tdmm[:, :52] = au_to_expression(au) + rng.normal(0.0, 0.01, size=(n, 52))
    tdmm[:, 52:] = pose
    assert emotion.shape[1] == N_EMOTION
    return Behaviour(emotion=emotion.astype(np.float32), tdmm=tdmm.astype(np.float32), speaking=speak.astype(bool))


def _head_pose(rng: np.random.Generator, n: int, fps: float, speak: np.ndarray) -> np.ndarray:
    motion = 1.0 + 0.8 * speak
    pitch = _ou(rng, n, fps, 1.2, 0.05) * motion
    yaw = _ou(rng, n, fps, 2.0, 0.08) * motion
    roll = _ou(rng, n, fps, 2.5, 0.04)
    trans = np.stack([_ou(rng, n, fps, 4.0, 0.02), _ou(rng, n, fps, 4.0, 0.02), _ou(rng, n, fps, 5.0, 0.02)], 1)
    return np.column_stack([pitch, yaw, roll, trans])


def speaker_behaviour(rng: np.random.Generator, person: Person, n: int, fps: float) -> tuple[Behaviour, np.ndarray, np.ndarray]:
    """Speaker behaviour; also returns (valence, arousal) before AU/expression derivation."""
    speak = turn_structure(rng, n, fps)
    syl = _syllables(rng, speak, fps)
    v = np.tanh(person.style.valence_bias + _ou(rng, n, fps, rng.uniform(1.5, 3.0), 0.55))
    lift = np.convolve(speak.astype(float), np.ones(int(fps * 0.5)) / int(fps * 0.5), mode="same")
    a = np.tanh(0.35 * lift - 0.1 + _ou(rng, n, fps, rng.uniform(1.5, 3.0), 0.45))
    pose = _head_pose(rng, n, fps, speak.astype(float))
    return _assemble(rng, v, a, speak, syl, person.style.expressiveness, pose), v, a


def listener_behaviour(
    rng: np.random.Generator, person: Person, n: int, fps: float,
    speaker_v: np.ndarray, speaker_a: np.ndarray, speaker_speaking: np.ndarray,
) -> Behaviour:
    """Listener behaviour as a lagged, gained, noisy response to the speaker, with nods at pauses."""
    st = person.style
    lag = int(round(st.lag_s * fps))
    def delayed(x: np.ndarray) -> np.ndarray:
        return np.concatenate([np.full(lag, x[0]), x[: n - lag]]) if lag > 0 else x.copy()

    v = np.tanh(st.valence_bias + st.gain * delayed(speaker_v) + _ou(rng, n, fps, 1.5, st.noise))
    a = np.tanh(-0.25 + 0.6 * st.gain * delayed(speaker_a) + _ou(rng, n, fps, 1.5, st.noise))
    pose = _head_pose(rng, n, fps, np.zeros(n))
    # Nods (and a smile burst) at speaker pause onsets, after the listener's lag.
    onsets = np.flatnonzero(speaker_speaking[:-1] & ~speaker_speaking[1:]) + 1
    t = np.arange(n) / fps
    smile_boost = np.zeros(n)
    for on in onsets:
        if rng.random() > st.nod_prob:
            continue
        t0 = (on + lag) / fps
        dt = t - t0
        active = dt >= 0
        amp = rng.uniform(0.08, 0.16)
        pose[active, 0] += amp * np.exp(-dt[active] / 0.45) * np.sin(2 * np.pi * 2.0 * dt[active])
        if v[min(n - 1, on + lag)] > 0:
            smile_boost[active] += 0.5 * np.exp(-dt[active] / 0.6)
    v = np.clip(v + smile_boost * 0.5, -1.0, 1.0)
    return _assemble(rng, v, a, np.zeros(n, bool), np.zeros(n), st.expressiveness, pose)

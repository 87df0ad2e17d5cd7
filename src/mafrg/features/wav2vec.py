"""wav2vec2 features per video frame: last hidden state at 50 Hz, onto the video's frame grid.

The model is ``transformers.Wav2Vec2Model`` loaded from a local folder (``features.wav2vec2.model_dir``);
nothing is downloaded. Input audio is normalised as the model's processor does (zero mean, unit variance when
its ``preprocessor_config.json`` says ``do_normalize``, the default of wav2vec2-base-960h).
At 25 fps (640 samples a frame) the convolutional front end yields 2F - 1 hidden frames for F video frames; the
last one is repeated to make 2F, then pairs are concatenated into F x 1536. At other rates the hidden states are
interpolated at the video frames' centres (F x 768): :func:`wav2vec2_per_frame`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from mafrg.extractors.errors import WeightsError
from mafrg.media.audio import AlignedAudio
from mafrg.features.config import STREAM_HELP, UNTRAINED

log = logging.getLogger(__name__)


def untrained_wav2vec2(seed: int):
    """A small randomly initialised wav2vec2 with the base model's 50 Hz front end and 768-d output.

    Built with torchaudio's pure-Python wav2vec2 (same architecture family) rather than transformers: importing
    transformers costs ~2.6 s per process here (measured), which is most of a demo shard job's time. Real
    weight files are always loaded with transformers (:func:`load_wav2vec2`).
    """
    import torch
    from mafrg.torchaudio_import import load_torchaudio

    load_torchaudio()
    from torchaudio.models import wav2vec2_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = wav2vec2_model(
            extractor_mode="group_norm",
            extractor_conv_layer_config=[(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] * 2,
            extractor_conv_bias=False, encoder_embed_dim=768, encoder_projection_dropout=0.0,
            encoder_pos_conv_kernel=32, encoder_pos_conv_groups=16, encoder_num_layers=2, encoder_num_heads=12,
            encoder_attention_dropout=0.0, encoder_ff_interm_features=1024, encoder_ff_interm_dropout=0.0,
            encoder_dropout=0.0, encoder_layer_norm_first=False, encoder_layer_drop=0.0, aux_num_out=None,
        )
    return _LastHidden(model.eval())


class _LastHidden:
    """Gives a torchaudio wav2vec2 the ``model(x).last_hidden_state`` interface of transformers'."""

    def __init__(self, model):
        self.model = model

    def __call__(self, x):
        from types import SimpleNamespace

        hidden, _ = self.model(x)
        return SimpleNamespace(last_hidden_state=hidden)


def load_wav2vec2(model_dir: str, seed: int = 0):
    """(model, do_normalize). Fails with a message naming the folder and what belongs there."""
    if model_dir == UNTRAINED:
        return untrained_wav2vec2(seed), True
    from transformers import Wav2Vec2Model

    path = Path(model_dir)
    if not (path / "config.json").is_file():
        raise WeightsError(
            f"features.wav2vec2.model_dir: {path} has no config.json. Put {STREAM_HELP['wav2vec2']} there, "
            "or set it to 'untrained' (random weights, for demos and tests)."
        )
    weights = [f for f in ("model.safetensors", "pytorch_model.bin") if (path / f).is_file()]
    try:
        model = Wav2Vec2Model.from_pretrained(str(path), local_files_only=True).eval()
    except Exception as exc:  # noqa: BLE001 - corrupt, truncated or unsafe files: name them, keep no traceback
        what = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        files = ", ".join(str(path / f) for f in weights) or f"{path} (no model.safetensors or pytorch_model.bin)"
        raise WeightsError(f"{files}: cannot be loaded as wav2vec2 weights ({type(exc).__name__}: {what})") from exc
    if model.config.hidden_size != 768:
        raise WeightsError(f"{path}: wav2vec2 hidden size is {model.config.hidden_size}, the stream needs 768")
    do_norm = True
    pre = path / "preprocessor_config.json"
    if pre.is_file():
        do_norm = bool(json.loads(pre.read_text()).get("do_normalize", True))
    return model, do_norm


HOP = 320  # samples between wav2vec2-base hidden frames at 16 kHz (20 ms)
FIELD = 400  # samples each hidden frame sees (its receptive field; frame j covers [j * HOP, j * HOP + FIELD))


def states_per_frame(sample_rate: int, fps: int) -> int | None:
    """Hidden states each video frame owns whole (2 at 16 kHz / 25 fps), or None when frames own fractions."""
    if sample_rate % fps or (sample_rate // fps) % HOP:
        return None
    return (sample_rate // fps) // HOP


def width(sample_rate: int, fps: int) -> int:
    """Values per video frame of the stream: k x 768 where frames own k states whole, else 768 (interpolated)."""
    return 768 * (states_per_frame(sample_rate, fps) or 1)


def wav2vec2_per_frame(model, do_normalize: bool, audio: AlignedAudio, max_seconds: float = 40.0) -> np.ndarray:
    """Hidden states per video frame, float32.

    Where a frame owns a whole number k of 20 ms hops (25 fps at 16 kHz: k = 2, the REACT 2024 features) the k
    hidden frames of each video frame are concatenated: (F, k * 768). At any other rate (30 fps: 533.3 samples a
    frame) the hidden states are linearly interpolated at the centre of each video frame from the centres of
    their receptive fields: (F, 768), the width of MARS's own ``audio-features``. Long audio is processed in chunks
    of about ``max_seconds`` cut at frame boundaries."""
    import torch

    bounds = audio.bounds
    n_frames = audio.frames
    step = max(1, int(max_seconds * audio.sample_rate) * audio.fps // audio.sample_rate)  # frames per chunk
    k = states_per_frame(audio.sample_rate, audio.fps)  # None: frames own fractions of a hidden state
    out = []
    with torch.inference_mode():
        for f0 in range(0, n_frames, step):
            f1 = min(n_frames, f0 + step)
            x = audio.samples[bounds[f0] : bounds[f1]].astype(np.float32)
            if do_normalize:
                x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
            hidden = model(torch.from_numpy(x)[None]).last_hidden_state[0].numpy()
            if k:
                want = k * (f1 - f0)
                if hidden.shape[0] < want:  # the front end yields k F - 1 frames: repeat the last
                    hidden = np.concatenate([hidden, np.repeat(hidden[-1:], want - hidden.shape[0], axis=0)])
                out.append(hidden[:want].reshape(f1 - f0, k * hidden.shape[1]))
            else:
                centres = (bounds[f0:f1] + bounds[f0 + 1 : f1 + 1]) / 2.0 - bounds[f0]
                pos = np.clip((centres - FIELD / 2) / HOP, 0, hidden.shape[0] - 1)
                lo = np.floor(pos).astype(np.int64)
                hi = np.minimum(lo + 1, hidden.shape[0] - 1)
                w = (pos - lo)[:, None]
                out.append((1 - w) * hidden[lo] + w * hidden[hi])
    feats = np.concatenate(out).astype(np.float32)
    if feats.shape[1] % 768:
        raise WeightsError(f"wav2vec2 gives hidden states of width {hidden.shape[1]}; the stream needs 768")
    return feats


def causal_windows(audio: AlignedAudio, context: float, chunk: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The analysis windows of :func:`wav2vec2_causal_per_frame`: (first frame of each block, end sample of each
    block, window length). Block b holds frames [b * chunk, (b + 1) * chunk); its window is the ``context`` seconds
    before its first frame plus the block itself, ending at the block's last sample (never later)."""
    bounds = audio.bounds
    starts = np.arange(0, audio.frames, chunk)
    ends = bounds[np.minimum(starts + chunk, audio.frames)]
    longest = int(np.max(ends - bounds[starts]))
    return starts, ends, max(FIELD, int(round(context * audio.sample_rate)) + longest)


def wav2vec2_causal_per_frame(model, do_normalize: bool, audio: AlignedAudio, context: float = 1.0, chunk: int = 1,
                              batch_size: int = 32) -> np.ndarray:
    """Hidden states per video frame computed from the audio up to the end of that frame only (online variants).

    wav2vec2's transformer attends over its whole input, so the whole-clip stream (:func:`wav2vec2_per_frame`)
    lets frame t see speech after t. Here frame t is represented by hidden states of a window that ends at the
    last sample of frame t and starts ``context`` seconds before the frame: the last k states whose receptive
    field ends inside the window (k states a frame where frames own whole hops, e.g. 2 at 25 fps, concatenated:
    (F, k * 768); one state otherwise, (F, 768)), so the width is the whole-clip stream's. Each window is
    normalised over its own samples (the processor's ``do_normalize``) and left-padded with zeros at the clip's
    start. ``chunk`` k > 1 computes a block of k frames from one window ending at the block's last sample:
    cheaper by k, and window-causal (frame t may see up to the end of its block), as the REACT baselines' online
    windows are."""
    import torch

    if chunk < 1 or context < 0:
        raise ValueError(f"wav2vec2_causal: chunk must be >= 1 and context >= 0 s, got {chunk} and {context}")
    bounds = audio.bounds
    k = states_per_frame(audio.sample_rate, audio.fps) or 1
    starts, ends, length = causal_windows(audio, context, chunk)
    x = audio.samples.astype(np.float32)
    out = np.empty((audio.frames, k * 768), np.float32)
    with torch.inference_mode():
        for b0 in range(0, len(starts), batch_size):
            sel = range(b0, min(b0 + batch_size, len(starts)))
            wins = np.zeros((len(sel), length), np.float32)
            for i, b in enumerate(sel):
                seg = x[max(0, ends[b] - length): ends[b]]
                if do_normalize:
                    seg = (seg - seg.mean()) / np.sqrt(seg.var() + 1e-7)
                wins[i, length - len(seg):] = seg
            hidden = model(torch.from_numpy(wins)).last_hidden_state.numpy()
            if hidden.shape[2] != 768:
                raise WeightsError(f"wav2vec2 gives hidden states of width {hidden.shape[2]}; the stream needs 768")
            for i, b in enumerate(sel):
                s0 = ends[b] - length  # sample position of the window's first sample (negative: zero padding)
                for f in range(starts[b], min(starts[b] + chunk, audio.frames)):
                    last = min((bounds[f + 1] - s0 - FIELD) // HOP, hidden.shape[1] - 1)  # field ends by frame f's end
                    idx = np.clip(np.arange(last - k + 1, last + 1), 0, None)
                    out[f] = hidden[i, idx].reshape(-1)
    return out

"""Settings of the feature-extraction stage, one block per stream.

Each stream's *value-affecting* settings are hashed separately (:meth:`FeatureConfig.stream_settings`), so a
change to one stream invalidates only that stream's columns; batch sizes and threads are not part of it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mafrg.config import ConfigError
from mafrg.provenance import config_hash

VIDEO_STREAMS = ("va", "au", "fe")
AUDIO_STREAMS = ("mfcc", "wav2vec2")
STREAMS = VIDEO_STREAMS + AUDIO_STREAMS
WEIGHTED_STREAMS = VIDEO_STREAMS + ("wav2vec2",)  # streams computed by a network with weights
UNTRAINED = "untrained"

# What a user must put at a checkpoint path (shown when one is missing).
STREAM_HELP = {
    "va": "a TorchScript export of the ELIM encoder+regressor feature head (input N x 3 x 224 x 224 in [-1, 1], output N x 64)",
    "au": "a TorchScript export of ME-GraphAU up to global_linear (output N x 49 x 512 or N x 25088)",
    "fe": "a TorchScript export of the EfficientNet-B2-style FER network up to its global pool (output N x 1408)",
    "wav2vec2": "the facebook/wav2vec2-base-960h folder (config.json + model.safetensors or pytorch_model.bin)",
}


@dataclass
class VisualStream:
    enabled: bool = True
    checkpoint: str = UNTRAINED  # TorchScript file, or "untrained" (small random network, for demos/tests)
    dim: int = 64
    dtype: str = "float32"  # storage dtype: float32 | float16
    batch_size: int = 32


@dataclass
class MfccStream:
    enabled: bool = True
    num_ceps: int = 26
    num_mel_bins: int = 26
    use_energy: bool = True
    # torchaudio's Kaldi MFCC on the float waveform in [-1, 1] with its defaults (energy_floor 1.0), as common
    # REACT code calls it. Caution: with that scale quiet 40 ms frames have energy < 1 and C0 is floored to 0;
    # waveform_scale 32768 gives Kaldi's int16 convention, where C0 keeps the energy of quiet frames.
    waveform_scale: float = 1.0
    energy_floor: float = 1.0
    dtype: str = "float32"

    @property
    def dim(self) -> int:
        return self.num_ceps


@dataclass
class Wav2Vec2Stream:
    enabled: bool = True
    model_dir: str = UNTRAINED  # local folder of facebook/wav2vec2-base-960h, or "untrained"
    dtype: str = "float32"
    max_seconds: float = 40.0  # longer audio is processed in chunks of this length

    @property
    def dim(self) -> int:
        return 1536


@dataclass
class FeatureConfig:
    threads: int = 2
    image_size: int = 256
    crop_size: int = 224
    face_crop: bool = False  # detect the face (OpenCV Haar cascade) and crop to it first: for raw videos
    face_margin: float = 1.4  # crop box = detected box scaled by this
    sample_rate: int = 16000
    untrained_seed: int = 0
    va: VisualStream = field(default_factory=lambda: VisualStream(dim=64))
    au: VisualStream = field(default_factory=lambda: VisualStream(dim=25088, dtype="float16", batch_size=16))
    fe: VisualStream = field(default_factory=lambda: VisualStream(dim=1408))
    mfcc: MfccStream = field(default_factory=MfccStream)
    wav2vec2: Wav2Vec2Stream = field(default_factory=Wav2Vec2Stream)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "FeatureConfig":
        d = dict(d or {})
        base = cls()
        kinds = {"va": VisualStream, "au": VisualStream, "fe": VisualStream, "mfcc": MfccStream,
                 "wav2vec2": Wav2Vec2Stream}
        out: dict[str, Any] = {}
        for key, val in d.items():
            if key in kinds:
                defaults = asdict(getattr(base, key))
                unknown = set(val or {}) - set(defaults)
                if unknown:
                    raise ConfigError(f"unknown key(s) in features.{key}: {', '.join(sorted(unknown))}")
                out[key] = kinds[key](**(defaults | (val or {})))
            elif key in {f for f in cls.__dataclass_fields__}:
                out[key] = val
            else:
                raise ConfigError(f"unknown key in features: {key}")
        cfg = cls(**{**{k: getattr(base, k) for k in cls.__dataclass_fields__}, **out})
        for s in STREAMS:
            if getattr(cfg, s).dtype not in ("float32", "float16"):
                raise ConfigError(f"features.{s}.dtype must be float32 or float16")
        return cfg

    def enabled(self) -> list[str]:
        return [s for s in STREAMS if getattr(self, s).enabled]

    def stream_settings(self, stream: str, fps: int) -> dict[str, Any]:
        """Everything that changes a stream's values (not batch sizes or threads)."""
        s = asdict(getattr(self, stream))
        s.pop("batch_size", None)
        s.pop("enabled", None)
        if stream in VIDEO_STREAMS:
            s.update(image_size=self.image_size, crop_size=self.crop_size, face_crop=self.face_crop,
                     face_margin=self.face_margin if self.face_crop else None, fps=fps,
                     normalise="mean 0.5 std 0.5")
            if s["checkpoint"] == UNTRAINED:
                s["untrained_seed"] = self.untrained_seed
        else:
            s.update(sample_rate=self.sample_rate, fps=fps)
            s.pop("max_seconds", None)
            if stream == "wav2vec2" and s["model_dir"] == UNTRAINED:
                s["untrained_seed"] = self.untrained_seed
        return s

    def stream_hash(self, stream: str, fps: int) -> str:
        return config_hash(self.stream_settings(stream, fps))

    def weights_path(self, stream: str) -> str:
        st = getattr(self, stream)
        return st.model_dir if stream == "wav2vec2" else getattr(st, "checkpoint", UNTRAINED)

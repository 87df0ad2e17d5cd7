"""Settings of the feature-extraction stage, one block per stream.

Each stream's *value-affecting* settings are hashed separately (:meth:`FeatureConfig.stream_settings`), so a
change to one stream invalidates only that stream's columns; batch sizes and threads are not part of it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mafrg.config import ConfigError
from mafrg.features.preprocess import MODES, Preprocess, for_stream
from mafrg.provenance import config_hash

VIDEO_STREAMS = ("va", "au", "fe")
AUDIO_STREAMS = ("mfcc", "wav2vec2")
STREAMS = VIDEO_STREAMS + AUDIO_STREAMS
WEIGHTED_STREAMS = VIDEO_STREAMS + ("wav2vec2",)  # streams computed by a network with weights
UNTRAINED = "untrained"

# What a user must put at a stream's weights path (shown when it is missing). docs/features.md says where
# each file comes from.
STREAM_HELP = {
    "va": "ELIM's encoder, regressor and header state dicts (enc2.t7, reg2.t7, header2.t7 of "
          "github.com/kdhht2334/ELIM_FER; a list of files or their folder), or facetorch's va TorchScript predictor",
    "au": "an ME-GraphAU / OpenGraphAU weights (.pth; Swin-B or ResNet-50 backbone) or facetorch's au "
          "TorchScript predictor",
    "fe": "HSEmotion's enet_b2_8.pt (the whole pickled model), a timm EfficientNet state dict, or facetorch's fer "
          "TorchScript predictor",
    "wav2vec2": "the facebook/wav2vec2-base-960h folder (config.json + model.safetensors or pytorch_model.bin)",
}


@dataclass
class VisualStream:
    enabled: bool = True
    # a file, (VA) a list of files or a folder, or "untrained" (small random network, for demos/tests)
    weights: str | list[str] = UNTRAINED
    dim: int = 64
    dtype: str = "float32"  # storage dtype: float32 | float16
    batch_size: int = 32
    preprocess: str = "reactdiff"  # reactdiff (the authors' 256/224, mean = std = 0.5) | native (the network's own)


@dataclass
class FeStream(VisualStream):
    pool: str = "max"  # max: facetorch's export, so ReactDiff's features; avg: HSEmotion's own
    variant: str = "tf"  # tf: timm tf_efficientnet (HSEmotion's); torch: timm efficientnet (state dicts only say so)


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
        """At 25 fps (REACT 2024); the width at any rate is ``mafrg.features.wav2vec.width``."""
        return 1536


@dataclass
class FeatureConfig:
    threads: int = 2
    device: str = "cpu"  # cpu | cuda: where the visual networks run (values agree to float precision; TF32 off)
    image_size: int = 256  # the `reactdiff` preprocessing: shorter side resized to this, then centre crop
    crop_size: int = 224
    face_crop: bool = False  # detect the face (OpenCV Haar cascade) and crop to it first: for raw videos
    face_margin: float = 1.4  # crop box = detected box scaled by this
    sample_rate: int = 16000
    untrained_seed: int = 0
    va: VisualStream = field(default_factory=lambda: VisualStream(dim=64))
    au: VisualStream = field(default_factory=lambda: VisualStream(dim=25088, dtype="float16", batch_size=16))
    fe: FeStream = field(default_factory=lambda: FeStream(dim=1408))
    mfcc: MfccStream = field(default_factory=MfccStream)
    wav2vec2: Wav2Vec2Stream = field(default_factory=Wav2Vec2Stream)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "FeatureConfig":
        d = dict(d or {})
        base = cls()
        kinds = {"va": VisualStream, "au": VisualStream, "fe": FeStream, "mfcc": MfccStream,
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
        for s in VIDEO_STREAMS:
            if getattr(cfg, s).preprocess not in MODES:
                raise ConfigError(f"features.{s}.preprocess must be one of {', '.join(MODES)}")
            ck = getattr(cfg, s).weights
            if not (isinstance(ck, str) or (isinstance(ck, list) and ck and all(isinstance(c, str) for c in ck))):
                raise ConfigError(f"features.{s}.weights must be a path, a non-empty list of paths or 'untrained'")
        if cfg.device not in ("cpu", "cuda"):
            raise ConfigError(f"features.device must be cpu or cuda, got {cfg.device!r}")
        if cfg.fe.pool not in ("avg", "max") or cfg.fe.variant not in ("tf", "torch"):
            raise ConfigError("features.fe.pool must be avg or max, and features.fe.variant tf or torch")
        return cfg

    def enabled(self) -> list[str]:
        return [s for s in STREAMS if getattr(self, s).enabled]

    def stream_settings(self, stream: str, fps: int) -> dict[str, Any]:
        """Everything that changes a stream's values (not batch sizes or threads). Extraction adds the
        weights' format, found from the file (:func:`mafrg.extractors.load`)."""
        s = asdict(getattr(self, stream))
        s.pop("batch_size", None)
        s.pop("enabled", None)
        if stream in VIDEO_STREAMS:
            s.update(self.preprocessing(stream).settings(), face_crop=self.face_crop,
                     face_margin=self.face_margin if self.face_crop else None, fps=fps)
            if s["weights"] == UNTRAINED:
                s["untrained_seed"] = self.untrained_seed
                s.pop("pool", None)  # the stand-ins have no head to pool or pad
                s.pop("variant", None)
        else:
            s.update(sample_rate=self.sample_rate, fps=fps)
            s.pop("max_seconds", None)
            if stream == "wav2vec2" and s["model_dir"] == UNTRAINED:
                s["untrained_seed"] = self.untrained_seed
        return s

    def preprocessing(self, stream: str) -> Preprocess:
        return for_stream(stream, getattr(self, stream).preprocess, self.image_size, self.crop_size)

    def stream_hash(self, stream: str, fps: int) -> str:
        return config_hash(self.stream_settings(stream, fps))

    def weights_path(self, stream: str) -> str | list[str]:
        """A stream's configured weights: a path, (VA) a list of paths, or "untrained"."""
        st = getattr(self, stream)
        return st.model_dir if stream == "wav2vec2" else getattr(st, "weights", UNTRAINED)

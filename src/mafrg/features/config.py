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
AUDIO_STREAMS = ("mfcc", "wav2vec2", "wav2vec2_causal")
STREAMS = VIDEO_STREAMS + AUDIO_STREAMS
WEIGHTED_STREAMS = VIDEO_STREAMS + ("wav2vec2", "wav2vec2_causal")  # streams computed by a network with weights
# What a causal (online) variant reads in place of a whole-clip stream. The other streams are causal as they are:
# the visual ones are computed frame by frame, MFCC windows end at their frame (mafrg.features.audio).
CAUSAL_COUNTERPART = {"wav2vec2": "wav2vec2_causal"}
AUTO = "auto"
UNTRAINED = "untrained"

# What a user must put at a stream's weights path (shown when it is missing). docs/features.md says where
# each file comes from.
STREAM_HELP = {
    "va": "ELIM's encoder, regressor and header state dicts (enc2.t7, reg2.t7, header2.t7 of "
          "github.com/kdhht2334/ELIM_FER; a list of files or their folder), or facetorch's va TorchScript predictor",
    "au": "an ME-GraphAU / OpenGraphAU weights (.pth; Swin-B or ResNet-50 backbone) or facetorch's au "
          "TorchScript predictor",
    "fe": "ResMaskNet's Z_resmasking_dropout1_rot30_2019Nov30_13.32 (network: resmasknet; from huggingface.co/"
          "phamquiluan/ResidualMaskingNetwork), or HSEmotion's enet_b2_8.pt (the whole pickled model), a timm "
          "EfficientNet state dict or facetorch's fer TorchScript predictor (network: hsemotion)",
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


# The fe networks and their feature widths. The ReactDiff paper names ResMaskNet (its feature is 512-d) and states
# 1408 values per frame, which is HSEmotion's EfficientNet-B2 width, what the authors' code loads (docs/features.md).
FE_WIDTH = {"resmasknet": 512, "hsemotion": 1408}


@dataclass
class FeStream(VisualStream):
    network: str = "resmasknet"  # resmasknet: the ReactDiff paper's; hsemotion: EfficientNet-B2, the authors' code's
    dim: int | None = None  # None: the network's width (FE_WIDTH)
    pool: str = "max"  # hsemotion: max (facetorch's export, so ReactDiff's features) or avg (HSEmotion's own)
    variant: str = "tf"  # hsemotion: tf (timm tf_efficientnet, HSEmotion's) or torch (efficientnet; state dicts only)

    def __post_init__(self) -> None:
        if self.network not in FE_WIDTH:
            raise ConfigError(f"features.fe.network must be one of {', '.join(FE_WIDTH)}, got {self.network!r}")
        if self.dim is None:
            self.dim = FE_WIDTH[self.network]


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
class Wav2Vec2CausalStream:
    """wav2vec2 per frame from the audio up to the end of that frame only (online variants read it in place of
    ``wav2vec2``; the same network, ``features.wav2vec2.model_dir``):
    :func:`mafrg.features.wav2vec.wav2vec2_causal_per_frame`."""

    enabled: bool | str = AUTO  # auto: extracted when an enabled online variant reads wav2vec2 (the workflow decides)
    context: float = 1.0  # seconds of audio before each frame in its window (the left context)
    chunk: int = 1  # frames per window: 1 is frame-causal; k > 1 computes k frames from audio up to the block's end
    dtype: str = "float32"
    batch_size: int = 32  # windows per forward pass (changes no value)

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
    fe: FeStream = field(default_factory=FeStream)
    mfcc: MfccStream = field(default_factory=MfccStream)
    wav2vec2: Wav2Vec2Stream = field(default_factory=Wav2Vec2Stream)
    wav2vec2_causal: Wav2Vec2CausalStream = field(default_factory=Wav2Vec2CausalStream)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "FeatureConfig":
        d = dict(d or {})
        base = cls()
        kinds = {"va": VisualStream, "au": VisualStream, "fe": FeStream, "mfcc": MfccStream,
                 "wav2vec2": Wav2Vec2Stream, "wav2vec2_causal": Wav2Vec2CausalStream}
        out: dict[str, Any] = {}
        for key, val in d.items():
            if key in kinds:
                defaults = asdict(getattr(base, key))
                unknown = set(val or {}) - set(defaults)
                if unknown:
                    raise ConfigError(f"unknown key(s) in features.{key}: {', '.join(sorted(unknown))}")
                if key == "fe":
                    defaults["dim"] = None  # unless given, the configured network's width
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
        wc = cfg.wav2vec2_causal
        if wc.enabled not in (True, False, AUTO):
            raise ConfigError(f"features.wav2vec2_causal.enabled must be true, false or auto, got {wc.enabled!r}")
        if not (isinstance(wc.chunk, int) and wc.chunk >= 1) or not wc.context >= 0:
            raise ConfigError(f"features.wav2vec2_causal: chunk must be a whole number >= 1 and context >= 0 "
                              f"seconds, got {wc.chunk!r} and {wc.context!r}")
        if cfg.device not in ("cpu", "cuda"):
            raise ConfigError(f"features.device must be cpu or cuda, got {cfg.device!r}")
        if cfg.fe.pool not in ("avg", "max") or cfg.fe.variant not in ("tf", "torch"):
            raise ConfigError("features.fe.pool must be avg or max, and features.fe.variant tf or torch")
        return cfg

    def enabled(self) -> list[str]:
        """Streams to extract. ``auto`` is not enabled here: the workflow decides it first (:meth:`resolved`), and
        outside the workflow nothing says an online variant will read the stream, which costs about 24 times the
        whole-clip wav2vec2 (docs/features.md)."""
        return [s for s in STREAMS if getattr(self, s).enabled is True]

    def resolved(self, causal_reads: set[str]) -> "FeatureConfig":
        """This config with ``wav2vec2_causal.enabled: auto`` decided: extracted when wav2vec2 is enabled and an
        enabled causal variant reads it (``causal_reads``: the whole-clip streams such variants read). Refuses a
        causal stream switched off that such a variant needs."""
        from dataclasses import replace

        wc = self.wav2vec2_causal
        needed = "wav2vec2" in causal_reads and bool(self.wav2vec2.enabled)
        if wc.enabled is False and needed:
            raise ConfigError("features.wav2vec2_causal.enabled is false, but an enabled online variant reads "
                              "wav2vec2, which it takes from its causal stream; set it to auto or true")
        return replace(self, wav2vec2_causal=replace(wc, enabled=needed if wc.enabled == AUTO else wc.enabled))

    def stream_settings(self, stream: str, fps: int) -> dict[str, Any]:
        """Everything that changes a stream's values (not batch sizes or threads). Extraction adds the
        weights' format, found from the file (:func:`mafrg.extractors.load`)."""
        s = asdict(getattr(self, stream))
        s.pop("batch_size", None)
        s.pop("enabled", None)
        if stream in VIDEO_STREAMS:
            s.update(self.preprocessing(stream).settings(), face_crop=self.face_crop,
                     face_margin=self.face_margin if self.face_crop else None, fps=fps)
            if stream == "fe" and s["network"] == "resmasknet":
                s.pop("pool", None)  # HSEmotion's settings: ResMaskNet's feature is its own average pool
                s.pop("variant", None)
            if s["weights"] == UNTRAINED:
                s["untrained_seed"] = self.untrained_seed
                s.pop("pool", None)  # the stand-ins have no head to pool or pad, and no network beyond their
                s.pop("variant", None)  # width and preprocessing (both recorded)
                s.pop("network", None)
        else:
            s.update(sample_rate=self.sample_rate, fps=fps)
            s.pop("max_seconds", None)
            if stream == "wav2vec2_causal":
                s["model_dir"] = self.wav2vec2.model_dir  # the same network
            if stream.startswith("wav2vec2") and s["model_dir"] == UNTRAINED:
                s["untrained_seed"] = self.untrained_seed
        return s

    def preprocessing(self, stream: str) -> Preprocess:
        st = getattr(self, stream)
        return for_stream(stream, st.preprocess, self.image_size, self.crop_size, getattr(st, "network", None))

    def stream_hash(self, stream: str, fps: int) -> str:
        return config_hash(self.stream_settings(stream, fps))

    def weights_path(self, stream: str) -> str | list[str]:
        """A stream's configured weights: a path, (VA) a list of paths, or "untrained"."""
        st = getattr(self, stream)
        if stream.startswith("wav2vec2"):
            return self.wav2vec2.model_dir  # the causal stream runs the same network
        return getattr(st, "weights", UNTRAINED)

"""The shared extractor fixtures (../shared/data/extractors): weights rebuilt by their stated fill rule, the
stated input, and each network's official weights formats written from them.

Only data lives in that folder (key manifests, reference outputs, the non-float "as built" buffers). The rule
("qhash-v1") and the input formula are written out in its README; this module implements both, so that tests
can save the same weights in every format the authors distribute and compare mafrg's features with the
reference outputs of the authors' own classes.
"""

from __future__ import annotations

import json
import os
import zlib
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import numpy as np

from conftest import REPO

# ../shared beside the checkout; elsewhere (a GPU machine gets the checkout alone) a copy named by the variable
FIXTURES = Path(os.environ.get("MAFRG_EXTRACTOR_FIXTURES", REPO.parent / "shared" / "data" / "extractors"))
P = 2147483647


def available() -> bool:
    return (FIXTURES / "README.md").is_file()


@lru_cache(maxsize=None)
def manifest(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.keys.json").read_text())


@lru_cache(maxsize=None)
def reference(name: str) -> dict[str, np.ndarray]:
    with np.load(FIXTURES / f"{name}.ref.npz") as z:
        return {k: z[k] for k in z.files}


def fill(key: str, shape: list[int], gain: float) -> np.ndarray:
    """qhash-v1: a deterministic pseudo-random float32 array for one state-dict entry."""
    n = int(np.prod(shape)) if shape else 1
    c = zlib.crc32(key.encode("utf-8")) % P
    i = np.arange(n, dtype=np.int64)
    h = (((i * i) % P) * 1103515245 + i * 12345 + c) % P
    u = h / P * 2.0 - 1.0
    last = key.rsplit(".", 1)[-1]
    if last == "running_var":
        v = 1 + 0.1 * np.abs(u)
    elif last == "running_mean":
        v = 0.02 * u
    elif len(shape) >= 2:
        v = u * (gain / np.sqrt(n // shape[0]))
    elif last == "weight":
        v = 1 + 0.1 * u
    else:
        v = 0.02 * u
    return v.astype(np.float32).reshape(shape)


def _state_dict(entries: list[dict], gain: float, asbuilt: dict[str, np.ndarray], prefix: str = "") -> "OrderedDict":
    import torch

    sd: OrderedDict = OrderedDict()
    for e in entries:
        k = e["key"]
        if e["fill"] == "asbuilt":
            sd[k] = torch.from_numpy(np.array(asbuilt[f"asbuilt/{prefix}{k}"]))
        elif e["fill"] == "alias":
            sd[k] = sd[e["alias_of"]]
        else:
            sd[k] = torch.from_numpy(fill(k, e["shape"], gain))
    return sd


def state_dict(name: str, asbuilt_from: str | None = None) -> "OrderedDict":
    """The filled state dict of a manifest (stage-2 manifests take the backbone's buffers from stage 1's npz;
    every head num_batches_tracked is 0)."""
    import torch

    m = manifest(name)
    ref = dict(reference(asbuilt_from or name))
    for e in m["keys"]:
        if e["fill"] == "asbuilt" and f"asbuilt/{e['key']}" not in ref:
            if not e["key"].endswith("num_batches_tracked"):
                raise KeyError(e["key"])
            ref[f"asbuilt/{e['key']}"] = np.array(0, np.int64)
    return _state_dict(m["keys"], m["fill_gain"], ref)


def elim_state_dicts() -> dict[str, "OrderedDict"]:
    m = manifest("elim")
    ref = reference("elim")
    return {part: _state_dict(m["dicts"][part]["keys"] if isinstance(m["dicts"][part], dict) else m["dicts"][part],
                              m["fill_gain"], ref, prefix=f"{part}/") for part in ("encoder", "regressor", "header")}


def input_batch(size: int = 224):
    """x[n, c, h, w] = float32(2 sin(0.071 (h+1)(c+1) + 0.037 (w+1)(n+1) + 0.5 n)), N = 2, NCHW."""
    import torch

    n, c, h, w = np.meshgrid(np.arange(2), np.arange(3), np.arange(size), np.arange(size), indexing="ij")
    x = (2.0 * np.sin(0.071 * (h + 1) * (c + 1) + 0.037 * (w + 1) * (n + 1) + 0.5 * n)).astype(np.float32)
    return torch.from_numpy(x)


def close(got, ref: np.ndarray, rel: float = 1e-5) -> float:
    """max |got - ref| / max |ref|; the tests require it below ``rel``."""
    got = np.asarray(got, dtype=np.float64)
    return float(np.abs(got - ref).max() / np.abs(ref).max())


def save(obj, path: Path, legacy: bool = False) -> Path:
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    return path


def save_pickled_timm_model(sd: dict, path: Path, tf: bool = True) -> Path:
    """HSEmotion's format: ``torch.save`` of a whole timm EfficientNet whose classifier is
    ``nn.Sequential(nn.Linear)``, as timm 0.4 built it (separate ``act1``/``act2`` modules, a ``gate_fn``
    function attribute in each squeeze-excite, a ``global_pool`` module).

    timm is not installed here, so stand-in classes are registered under timm's module and class names just
    long enough for pickle to record those names, then removed again: loading must work without them.
    """
    import sys
    import types

    import torch
    from torch import nn

    from mafrg.backbones import efficientnet as en

    fakes = {
        en.EfficientNet: ("timm.models.efficientnet", "EfficientNet"),
        en.Conv2dSame: ("timm.models.layers.conv2d_same", "Conv2dSame"),
        en.DepthwiseSeparable: ("timm.models.efficientnet_blocks", "DepthwiseSeparableConv"),
        en.InvertedResidual: ("timm.models.efficientnet_blocks", "InvertedResidual"),
        en.SqueezeExcite: ("timm.models.efficientnet_blocks", "SqueezeExcite"),
    }
    added = []

    def module(name: str) -> types.ModuleType:
        for i in range(1, name.count(".") + 2):
            part = ".".join(name.split(".")[:i])
            if part not in sys.modules:
                sys.modules[part] = types.ModuleType(part)
                added.append(part)
        return sys.modules[name]

    try:
        classes = {}
        for base, (mod, name) in fakes.items():
            classes[base] = type(name, (base,), {"__module__": mod, "__qualname__": name})
            setattr(module(mod), name, classes[base])

        class SelectAdaptivePool2d(nn.Module):
            def __init__(self):
                super().__init__()
                self.pool_type = "avg"

        SelectAdaptivePool2d.__module__ = "timm.models.layers.adaptive_avgmax_pool"
        SelectAdaptivePool2d.__qualname__ = "SelectAdaptivePool2d"
        setattr(module(SelectAdaptivePool2d.__module__), "SelectAdaptivePool2d", SelectAdaptivePool2d)

        def sigmoid(x, inplace: bool = False):
            return x.sigmoid()

        sigmoid.__module__, sigmoid.__qualname__ = "timm.models.layers.activations", "sigmoid"
        setattr(module(sigmoid.__module__), "sigmoid", sigmoid)

        spec = en.spec_from_state_dict(sd)
        net = en.EfficientNet(spec, tf=tf)
        net.load_state_dict(sd)
        for m in net.modules():
            if type(m) in classes:
                m.__class__ = classes[type(m)]
            if isinstance(m, en.SqueezeExcite):
                m.gate_fn = sigmoid
        net.act1, net.act2 = nn.SiLU(), nn.SiLU()
        net.global_pool = SelectAdaptivePool2d()
        net.classifier = nn.Sequential(net.classifier)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(net, path)
    finally:
        for name in added:
            sys.modules.pop(name, None)
    return path


def save_malicious_pickle(path: Path, marker: Path) -> Path:
    """A torch.save'd dict holding an object whose unpickling would run a shell command creating ``marker``."""
    import os

    import torch

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"state_dict": {"conv.weight": torch.zeros(1)}, "hook": Payload()}, path)
    return path


# Small TorchScript predictors with facetorch's attribute names and call signatures (module level: TorchScript
# resolves the interface type by name).
import torch as _torch  # noqa: E402
from torch import nn as _nn  # noqa: E402


@_torch.jit.interface
class Pooling(_nn.Module):
    def forward(self, input: _torch.Tensor) -> _torch.Tensor:
        pass


class ScriptEncoder(_nn.Module):  # facetorch's ELIM encoder takes the pooling module first
    def __init__(self):
        super().__init__()
        self.features = _nn.Conv2d(3, 4, 5, stride=8)

    def forward(self, avgpool: Pooling, x: _torch.Tensor) -> _torch.Tensor:
        return _torch.flatten(avgpool.forward(self.features(x)), 1)


class ScriptRegressor(_nn.Module):
    def __init__(self):
        super().__init__()
        self.avgpool = _nn.AdaptiveAvgPool2d((2, 2))
        self.lin0 = _nn.Linear(16, 64)

    def forward(self, x: _torch.Tensor) -> _torch.Tensor:
        return _torch.relu(self.lin0(x))


class ScriptVA(_nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder, self.regressor, self.head = ScriptEncoder(), ScriptRegressor(), _nn.Linear(64, 2)

    def forward(self, x: _torch.Tensor) -> _torch.Tensor:  # the predictor's output: 2 values
        return self.head(self.regressor(self.encoder(self.regressor.avgpool, x)))


class ScriptBackbone(_nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = _nn.Conv2d(3, 6, 32, stride=32)

    def forward(self, x: _torch.Tensor) -> _torch.Tensor:
        return self.conv(x).flatten(2).transpose(1, 2)  # (N, 49, 6)


class ScriptLinearBlock(_nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = _nn.Linear(6, 8)

    def forward(self, x: _torch.Tensor) -> _torch.Tensor:
        return _torch.relu(self.fc(x))


class ScriptAU(_nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone, self.global_linear, self.head = ScriptBackbone(), ScriptLinearBlock(), _nn.Linear(8, 41)

    def forward(self, x: _torch.Tensor) -> _torch.Tensor:  # 41 AU outputs
        return self.head(self.global_linear(self.backbone(x)).mean(1))


class ScriptFE(_nn.Module):  # timm < 0.6 layout: separate act1 / act2
    def __init__(self):
        super().__init__()
        self.conv_stem, self.bn1, self.act1 = _nn.Conv2d(3, 4, 3, 2), _nn.BatchNorm2d(4), _nn.SiLU()
        self.blocks = _nn.Sequential(_nn.Conv2d(4, 4, 3, 2))
        self.conv_head, self.bn2, self.act2 = _nn.Conv2d(4, 12, 1), _nn.BatchNorm2d(12), _nn.SiLU()
        self.global_pool, self.classifier = _nn.AdaptiveMaxPool2d(1), _nn.Linear(12, 8)

    def forward(self, x: _torch.Tensor) -> _torch.Tensor:  # 8 expression logits
        h = self.act2(self.bn2(self.conv_head(self.blocks(self.act1(self.bn1(self.conv_stem(x)))))))
        return self.classifier(self.global_pool(h).flatten(1))


def save_script_predictors(folder: Path, fresh_process: bool = True) -> dict[str, Path]:
    """Script and save the three predictors. By default in a fresh interpreter: once (1 of 3 full-suite runs),
    scripting them in a test worker that had run other tests failed inside TorchScript's compiler ("'Tensor'
    object has no attribute or method '__init__'"), which no isolated run reproduced."""
    if fresh_process:
        import subprocess
        import sys

        code = f"import extractor_fixtures as fx; fx.save_script_predictors({str(folder)!r}, fresh_process=False)"
        subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent,
                       env=os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).parent),
                                                                                     os.environ.get("PYTHONPATH")]))})
        return {name: Path(folder) / f"{name}.pt" for name in ("va", "au", "fe")}
    folder = Path(folder)
    _torch.manual_seed(0)
    out = {}
    for name, cls in (("va", ScriptVA), ("au", ScriptAU), ("fe", ScriptFE)):
        out[name] = folder / f"{name}.pt"
        _torch.jit.script(cls().eval()).save(str(out[name]))
    return out

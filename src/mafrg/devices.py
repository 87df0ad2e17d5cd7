"""Where torch work runs, and at which precision: the ``device`` / ``precision`` settings, resolved.

``cpu`` and ``cuda`` are taken as given (``cuda`` without a visible GPU is an error naming the setting, not a
silent fall back to hours of CPU work); ``auto`` is ``cuda`` when the job sees a GPU, else ``cpu``. On a GPU,
TF32 is switched off, so that results agree with the CPU's to float32 rounding (cuDNN's and cuBLAS's TF32
default differs at about 1e-3). ``bf16`` runs the networks under ``torch.autocast`` in bfloat16; what it
changes is measured and stated where it is offered (docs/usage.md).
"""

from __future__ import annotations

import contextlib
from typing import Any

DEVICES = ("cpu", "cuda", "auto")
PRECISIONS = ("fp32", "bf16")


def resolve(name: str, setting: str) -> Any:
    """The torch device of a device setting (``setting`` names it in errors, e.g. ``generation.device``)."""
    import torch

    if name not in DEVICES:
        raise ValueError(f"{setting} must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"{setting} is 'cuda' but this job sees no CUDA device (on SLURM the rule asks for "
                               f"gpu=1; locally, set {setting}: cpu or auto)")
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    return torch.device(name)


def autocast(device: Any, precision: str) -> contextlib.AbstractContextManager:
    """bfloat16 autocast on ``device`` for ``bf16``; a no-op for ``fp32``."""
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)

"""torchaudio's pure-Python parts, importable beside any torch build.

mafrg uses three pure-torch pieces of torchaudio: Kaldi's MFCC (``compliance.kaldi``), mel filter banks
(``functional.melscale_fbanks``) and the wav2vec2 model class (the untrained demo stand-in). PyPI's x86_64
torchaudio wheels also carry compiled extensions built against CUDA and one torch release; beside the CPU torch
(or another release) ``import torchaudio`` fails while loading them, although nothing mafrg calls needs them.
:func:`load_torchaudio` imports the package normally and, when its extension cannot load, again with the
extension marked unavailable (what torchaudio itself does when the library file is absent), so a plain
``pip install .`` works. The Makefile and the conda post-deploy step also delete those libraries.
"""

from __future__ import annotations

import logging
import sys
import types

log = logging.getLogger(__name__)


def _unavailable(*_args, **_kwargs):
    raise RuntimeError("torchaudio's compiled extension could not be loaded (mafrg imports torchaudio without it)")


def _without_extension() -> types.ModuleType:
    """A stand-in for ``torchaudio._extension`` with every compiled part marked absent."""
    stub = types.ModuleType("torchaudio._extension")
    stub._IS_TORCHAUDIO_EXT_AVAILABLE = False
    stub._IS_ALIGN_AVAILABLE = False
    stub.fail_if_no_align = lambda fn: _unavailable
    stub._load_lib = lambda _name: False
    stub._check_cuda_version = lambda: None
    return stub


def load_torchaudio() -> types.ModuleType:
    """The ``torchaudio`` package (imported once per process)."""
    if "torchaudio" in sys.modules and hasattr(sys.modules["torchaudio"], "compliance"):
        return sys.modules["torchaudio"]
    try:
        import torchaudio
    except OSError as exc:  # its compiled extension does not load beside this torch
        for name in [m for m in sys.modules if m == "torchaudio" or m.startswith("torchaudio.")]:
            del sys.modules[name]
        sys.modules["torchaudio._extension"] = _without_extension()
        import torchaudio

        log.debug("torchaudio imported without its compiled extension (%s)", str(exc).splitlines()[0])
    return torchaudio

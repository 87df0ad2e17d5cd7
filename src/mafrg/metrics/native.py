"""Build and load mafrg's compiled metric kernel (``_frdist.c``) with the machine's C compiler.

Why at run time and not at install: the kernel's speed comes from the SIMD width of the CPU it runs on, so
it is compiled with ``-march=native`` on that machine, once, into a cache keyed by the source, compiler,
flags and CPU (cluster nodes of different kinds sharing a home directory each get their own build). Why
not numba: see the header of ``_frdist.c`` (numba did not vectorise the lane loops; measured 3-10x slower).

Without a working compiler the numba kernel (``mafrg.metrics.dtw``) is used instead, with a warning: same
results, several times slower. ``MAFRG_FRDIST_KERNEL=numba`` forces it, ``=native`` makes a failed build an
error; ``CC`` picks the compiler (default ``cc``); ``MAFRG_NATIVE_CACHE`` the cache folder (default
``$XDG_CACHE_HOME/mafrg/native`` or ``~/.cache/mafrg/native``).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shlex
import subprocess
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("_frdist.c")
KERNEL_ENV = "MAFRG_FRDIST_KERNEL"
CACHE_ENV = "MAFRG_NATIVE_CACHE"
CHOICES = ("auto", "native", "numba")


class NativeKernelError(RuntimeError):
    """The compiled kernel could not be built or loaded (the message carries the compiler's output)."""


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mafrg" / "native"


def _compiler() -> list[str]:
    return shlex.split(os.environ.get("CC") or "cc")


def _arch_flags() -> list[str]:
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64", "i686"):
        return ["-march=native"]
    if machine in ("aarch64", "arm64", "ppc64le"):
        return ["-mcpu=native"]
    return []


BASE_FLAGS = ["-O3", "-std=gnu11", "-ffp-contract=fast", "-fPIC", "-shared"]


def _cpu_identity() -> str:
    """What -march=native depends on: the CPU model and its feature flags."""
    ident = [platform.machine()]
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key = line.split(":", 1)[0].strip()
            if key in ("model name", "flags", "Features", "CPU part") and line not in ident:
                ident.append(line)
            if key == "" and len(ident) > 1:
                break  # the first processor's block is enough
    except OSError:
        ident.append(platform.processor())
    return "\n".join(ident)


def _compiler_identity(cc: list[str]) -> str:
    try:
        out = subprocess.run([*cc, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NativeKernelError(f"C compiler {' '.join(cc)!r} cannot be run ({exc})") from exc
    if out.returncode != 0:
        raise NativeKernelError(f"C compiler {' '.join(cc)!r} cannot be run: {out.stderr.strip()[:500]}")
    return out.stdout


def build(source: Path = SOURCE, cache: Path | None = None) -> Path:
    """Compile ``source`` into the cache unless an identical build is there; returns the shared library.

    The library is written under a temporary name and renamed, so concurrent jobs never load a half-written
    file (two jobs racing both compile; the last rename wins, with identical content).
    """
    cc = _compiler()
    cache = cache or cache_dir()
    flags = [*BASE_FLAGS, *_arch_flags()]
    key = hashlib.sha256(
        b"\0".join([source.read_bytes(), _compiler_identity(cc).encode(), " ".join(flags).encode(),
                    _cpu_identity().encode()])
    ).hexdigest()[:20]
    target = cache / f"{source.stem.lstrip('_')}-{key}.so"
    if target.is_file():
        return target
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NativeKernelError(f"cache folder {cache} cannot be created ({exc}); set {CACHE_ENV}") from exc
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".so", dir=cache)
    os.close(fd)
    try:
        cmd = [*cc, *flags, "-o", tmp, str(source), "-lm"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if out.returncode != 0 and _arch_flags():  # a compiler that does not know -march=native
            cmd = [*cc, *BASE_FLAGS, "-o", tmp, str(source), "-lm"]
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            raise NativeKernelError(f"compiling {source.name} failed ({' '.join(cmd)}):\n{out.stderr.strip()[:2000]}")
        os.replace(tmp, target)
        log.info("compiled %s -> %s", source.name, target)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NativeKernelError(f"compiling {source.name} failed: {exc}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    p, i = ctypes.c_void_p, ctypes.c_int
    fn = lib.mafrg_frdist
    fn.restype = i
    fn.argtypes = [p, i, p, p, p, p, i, p, p, i, i, p, p, p, i, p, p]
    return lib


def kernel_choice() -> str:
    choice = os.environ.get(KERNEL_ENV, "auto").strip().lower() or "auto"
    if choice not in CHOICES:
        raise NativeKernelError(f"{KERNEL_ENV}={choice!r}: choose one of {CHOICES}")
    return choice


_loaded: dict[str, ctypes.CDLL | NativeKernelError] = {}  # per cache folder; failures are not retried


def _load(cache: str) -> ctypes.CDLL:
    if cache not in _loaded:
        try:
            path = build(cache=Path(cache))
            try:
                _loaded[cache] = _declare(ctypes.CDLL(str(path)))
            except OSError as exc:
                raise NativeKernelError(f"{path}: cannot be loaded ({exc})") from exc
        except NativeKernelError as exc:
            _loaded[cache] = exc
    got = _loaded[cache]
    if isinstance(got, NativeKernelError):
        raise got
    return got


def frdist_library() -> ctypes.CDLL | None:
    """The compiled FRDist kernel, or None when the numba fallback is to be used (chosen, or no compiler)."""
    choice = kernel_choice()
    if choice == "numba":
        return None
    try:
        return _load(str(cache_dir()))
    except NativeKernelError as exc:
        if choice == "native":
            raise
        if not getattr(exc, "warned", False):
            exc.warned = True  # type: ignore[attr-defined]
            log.warning("FRDist falls back to the numba kernel (same results, several times slower): %s", exc)
        return None

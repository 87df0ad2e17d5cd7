"""``--record`` of the scripts in ``benchmarks/``: a benchmark's current figures as its row in ``benchmarks/RESULTS.md``.

RESULTS.md has one section per benchmark script and, in it, one row per command (the exact command line without
``--record``): the figures, the date, the machine (CPU model, cores, the vector extensions that decide the speed
of these kernels; the GPU when one was used), the commit. Recording the same command again replaces its row: the
page shows current figures only, and git keeps the old ones.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "RESULTS.md"
HEADER = ("# Benchmark results\n\nCurrent figures of the scripts in `benchmarks/`, one row per command, each "
          "written by the script itself (`--record`; rerunning a command replaces its row). Compare figures "
          "only from the same machine and day. What each script measures: `docs/developing.md`.\n")
COLUMNS = "| figures | date | machine | commit | command |\n|---|---|---|---|---|\n"
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "asimd", "sve")


def add_option(ap) -> None:
    ap.add_argument("--record", action="store_true",
                    help="also write the figures as this command's row of benchmarks/RESULTS.md")


def machine(gpu: str | None = None) -> str:
    """CPU model, cores and vector flags (and the GPU), in a few words."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() in ("flags", "Features"):
                flags = set(value.split())
    except OSError:
        pass
    found = [f for f in FLAGS if f in flags]
    text = f"{model}, {os.cpu_count()} cores" + (f" ({' '.join(found)})" if found else "")
    return text + (f"; GPU {gpu}" if gpu else "")


def commit() -> str:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        # the results page itself is not code: recording a figure must not make the next one "dirty"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                f":(exclude){RESULTS.relative_to(REPO).as_posix()}"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (sha or "unknown") + ("-dirty" if dirty else "")


def command(argv: list[str] | None = None) -> str:
    """The command that was run, as a user would type it from the repository root, without ``--record``."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve()
    try:
        script_text = str(script.relative_to(REPO))
    except ValueError:
        script_text = argv[0]
    return shlex.join(["python", script_text, *[a for a in argv[1:] if a != "--record"]])


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def record(script: str, figures: str, gpu: str | None = None, argv: list[str] | None = None,
           path: Path = RESULTS) -> None:
    """Replace (or add) the row of this command in ``script``'s section of RESULTS.md."""
    cmd = command(argv)
    row = (f"| {_cell(figures)} | {datetime.date.today().isoformat()} | {_cell(machine(gpu))} | {commit()} | "
           f"`{cmd}` |\n")
    text = path.read_text() if path.is_file() else HEADER
    heading = f"\n## `{script}`\n\n"
    if heading not in text:
        text = text.rstrip("\n") + "\n" + heading + COLUMNS
    start = text.index(heading) + len(heading)
    end = text.find("\n## ", start)
    end = len(text) if end < 0 else end + 1
    lines = [ln for ln in text[start:end].splitlines(keepends=True) if ln.strip()]
    body = [ln for ln in lines[2:] if not re.search(r"\| `" + re.escape(cmd) + r"` \|\s*$", ln)]
    section = "".join(lines[:2] + body + [row]) + ("\n" if end < len(text) else "")
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text[:start] + section + text[end:])
    os.replace(tmp, path)
    print(f"recorded in {path}: {figures}")

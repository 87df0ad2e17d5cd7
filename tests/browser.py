"""Open a page in headless Debian chromium; return its DOM after load and the console errors it logged."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


WIDTH = 1280  # a common laptop screen width, in CSS pixels


def _command(tmp: Path) -> list[str]:
    exe = chromium()
    assert exe, "chromium is not installed (make test installs it with apt-get)"
    return [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-extensions", "--no-first-run",
            f"--user-data-dir={tmp / 'chromium-profile'}", "--enable-logging=stderr", "--v=0",
            "--virtual-time-budget=5000", f"--window-size={WIDTH},1000", "--hide-scrollbars"]


def screenshot(path: Path, out: Path, tmp: Path) -> Path:
    """A PNG of the page's first screen at :data:`WIDTH` pixels."""
    res = subprocess.run(_command(tmp) + [f"--screenshot={out}", path.resolve().as_uri()], capture_output=True,
                         text=True, timeout=180)
    assert res.returncode == 0 and out.is_file(), res.stderr[-3000:]
    return out


def load_page(path: Path, tmp: Path) -> tuple[str, list[str]]:
    """The page's DOM at :data:`WIDTH` pixels after load, and its console messages."""
    cmd = _command(tmp) + ["--dump-dom", path.resolve().as_uri()]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    # Console messages of the page are logged as "...:CONSOLE:<line>] message, source: ..." on stderr. The
    # report logs nothing itself, so every console message (errors, uncaught exceptions, failed loads) counts.
    console = [ln for ln in res.stderr.splitlines() if re.search(r"CONSOLE|Uncaught", ln)]
    return res.stdout, console

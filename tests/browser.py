"""Open a page in headless Debian chromium; return its DOM after load and the console errors it logged."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def load_page(path: Path, tmp: Path) -> tuple[str, list[str]]:
    exe = chromium()
    assert exe, "chromium is not installed (make test installs it with apt-get)"
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-extensions", "--no-first-run",
           f"--user-data-dir={tmp / 'chromium-profile'}", "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=5000", "--dump-dom", path.resolve().as_uri()]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    # Console messages of the page are logged as "...:CONSOLE:<line>] message, source: ..." on stderr. The
    # report logs nothing itself, so every console message (errors, uncaught exceptions, failed loads) counts.
    console = [ln for ln in res.stderr.splitlines() if re.search(r"CONSOLE|Uncaught", ln)]
    return res.stdout, console

"""Progress of long steps: tqdm's bar in a terminal, a few plain lines in a log file.

Workflow jobs send stderr to their rule's log file (``> {log} 2>&1``). There tqdm's bar, redrawn with carriage
returns (and cursor escape codes for nested bars) up to ten times a second, becomes one huge line that ``less``
and ``grep`` cannot use. :func:`tqdm` gives the usual bar when the stream is a terminal; otherwise a bar that
writes a plain, newline-terminated line when the step starts, at each quarter of its total (every
:data:`LOG_INTERVAL` seconds when the total is unknown) and when it ends.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from tqdm import tqdm as _tqdm

LOG_INTERVAL = 60.0  # seconds between lines of a step whose total is unknown
QUARTERS = 4


class LogLines(_tqdm):
    """A tqdm bar for log files: a few plain lines, no carriage returns, no escape codes."""

    def __init__(self, *args: Any, **kwargs: Any):
        self._mark = -1  # the last quarter written
        self._written_n: float | None = None
        self._written_at = 0.0
        kwargs.setdefault("bar_format", "{desc}: {percentage:3.0f}% {n_fmt}/{total_fmt} {unit} "
                                        "[{elapsed}<{remaining}, {rate_fmt}{postfix}]")
        kwargs["ascii"] = True
        super().__init__(*args, **kwargs)

    def _write(self) -> None:
        if self.total:
            text = str(self)
        else:  # no total: no percentage (tqdm may call this before its clock starts)
            start = getattr(self, "start_t", None)
            elapsed = 0.0 if start is None else self._time() - start
            text = f"{self.desc}: {self.n} {self.unit} [{self.format_interval(elapsed)}]"
        self.fp.write(text.replace("\r", "") + "\n")
        self.fp.flush()
        self._written_n, self._written_at = self.n, time.monotonic()

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if msg is not None:  # tqdm clearing its line (close with leave=False) or a fixed message: nothing to log
            return False  # (and tqdm then writes no carriage return either)
        if self.total:
            mark = min(QUARTERS, int(QUARTERS * self.n / self.total))
            if mark > self._mark:
                self._mark = mark
                self._write()
        elif self._written_n is None or time.monotonic() - self._written_at >= LOG_INTERVAL:
            self._write()
        return True

    def moveto(self, n: int) -> None:  # nested bars move the cursor: not in a file
        return

    def close(self) -> None:
        if not self.disable and self._written_n != self.n:
            self._write()  # the end of the step, whatever the last quarter written
        self.leave = False  # tqdm would redraw the last state once more
        super().close()


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def tqdm(*args: Any, **kwargs: Any) -> _tqdm:
    """A progress bar for a long step (tqdm's arguments): tqdm's own in a terminal, :class:`LogLines` elsewhere."""
    stream = kwargs.get("file") or sys.stderr
    return (_tqdm if is_terminal(stream) else LogLines)(*args, **kwargs)

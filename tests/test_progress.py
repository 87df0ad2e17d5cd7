"""Progress in a log file is a few plain lines; in a terminal it is tqdm's bar."""

from __future__ import annotations

import io

from tqdm import tqdm as plain_tqdm

from mafrg import progress
from mafrg.progress import LogLines, tqdm


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_a_line_at_the_start_each_quarter_and_the_end():
    log = io.StringIO()
    for _ in tqdm(range(100), desc="assemble val", unit="row", file=log, mininterval=0, miniters=1):
        pass
    lines = log.getvalue().splitlines()
    assert [ln.split(":")[1].split("%")[0].strip() for ln in lines] == ["0", "25", "50", "75", "100"], lines
    assert lines[-1].startswith("assemble val: 100% 100/100 row [")
    assert "\r" not in log.getvalue() and "\x1b" not in log.getvalue()


def test_a_bar_closed_early_or_nested_still_writes_plain_lines():
    log = io.StringIO()
    with tqdm(total=10, desc="generate", unit="row", file=log, leave=False, position=1) as bar:
        bar.update(7)
    text = log.getvalue()
    assert text.endswith("generate:  70% 7/10 row " + text.rsplit("row ", 1)[1]) and text.count("\n") == 2
    assert "\r" not in text and "\x1b" not in text


def test_without_a_total_a_line_per_interval(monkeypatch):
    log = io.StringIO()
    for _ in tqdm(iter(range(3)), desc="clips", unit="clip", file=log, mininterval=0, miniters=1):
        pass
    assert log.getvalue().splitlines()[0] == "clips: 0 clip [00:00]" and log.getvalue().count("\n") == 2
    monkeypatch.setattr(progress, "LOG_INTERVAL", 0.0)
    log = io.StringIO()
    for _ in tqdm(iter(range(3)), desc="clips", unit="clip", file=log, mininterval=0, miniters=1):
        pass
    assert log.getvalue().count("\n") == 4  # start, three steps (the last is the end)


def test_a_terminal_gets_tqdms_bar_and_disabled_bars_write_nothing():
    term = Terminal()
    bar = tqdm(range(3), desc="x", file=term)
    assert type(bar) is plain_tqdm and not isinstance(bar, LogLines)
    list(bar)
    assert "\r" in term.getvalue()
    log = io.StringIO()
    list(tqdm(range(3), desc="x", file=log, disable=True))
    assert log.getvalue() == ""

"""Generated blocks inside hand-written Markdown pages (the README's demo results, the configuration reference)."""

from __future__ import annotations

from pathlib import Path

from mafrg.atomic import write_text


def replace_block(page: str | Path, start: str, end: str | None, block: str) -> bool:
    """Replace the text from the marker line ``start`` up to ``end`` (None: the end of the page) with ``block``
    (which begins with ``start`` and ends with ``end``); True if the page changed. A page without its markers is an
    error naming them."""
    page = Path(page)
    text = page.read_text()
    if start not in text or (end is not None and end not in text.split(start, 1)[1]):
        raise ValueError(f"{page}: the generated block's markers are missing ({start!r}"
                         + (f" ... {end!r})" if end else ")"))
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1] if end is not None else ""
    new = head + block + tail
    if new == text:
        return False
    write_text(page, new)
    return True

"""The headless-browser check used on the HTML report can fail: it sees console errors and broken images."""

from __future__ import annotations

import re

import pytest

from browser import chromium, load_page
from mafrg.report_html import CHECK_JS

pytestmark = pytest.mark.skipif(chromium() is None, reason="chromium not installed (make test installs it)")


def test_console_errors_and_broken_images_are_seen(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(f"<html><body><img src='data:image/png;base64,AAAA'><script>{CHECK_JS}</script>"
                    "<script>console.error('boom'); throw new Error('bad');</script></body></html>")
    dom, errors = load_page(page, tmp_path)
    assert any("boom" in e for e in errors) and any("Uncaught Error: bad" in e for e in errors)
    assert re.search(r'data-images="0/1"', dom)

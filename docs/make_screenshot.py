"""Screenshot of the demo's report for the README: docs/demo-report.png.

Run after ``make demo`` (which writes runs/demo/report.html):

    PYTHONPATH=src .venv/bin/python docs/make_screenshot.py [runs/demo/report.html]

Opens the report in headless Chromium (tests/browser.py), checks that every
image loaded and the console stayed quiet, and saves a palette PNG small
enough to commit.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402
from tests.browser import check_page  # noqa: E402


def main(page: str = "runs/demo/report.html", out: str = "docs/demo-report.png"):
    with tempfile.TemporaryDirectory() as tmp:
        shot = Path(tmp) / "shot.png"
        res = check_page(page, shot, width=1280, height=3400)
        if res["broken"] or res["errors"] or res["console"]:
            raise SystemExit(f"the page did not render cleanly: {res}")
        im = Image.open(shot).convert("RGB")
        im = im.resize(
            (im.width * 3 // 4, im.height * 3 // 4), Image.Resampling.LANCZOS
        )
        im = im.quantize(colors=256, method=Image.Quantize.FASTOCTREE)
        im.save(out, optimize=True)
    size = Path(out).stat().st_size
    print(
        f"{out}: {im.width}x{im.height}, {size / 1024:.0f} KB, "
        f"{res['images']} images loaded, no console messages"
    )


if __name__ == "__main__":
    main(*sys.argv[1:])

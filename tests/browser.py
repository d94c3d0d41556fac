"""Open an HTML file in headless Chromium: screenshot, image and console checks.

Used by the report's end-to-end test and by ``docs/make_screenshot.py``. The
page is loaded from disk with networking features off; a copy of it gets a
small script that, after the load event, records every image's
``naturalWidth`` and any script error into the DOM, which ``--dump-dom``
prints. Console messages (a blocked resource, a CSP violation) come from
Chromium's log on stderr.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",  # running as root in a container
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
]

CHECK_SCRIPT = """<script>
window.__aekitErrors = [];
window.addEventListener("error", e => window.__aekitErrors.push(String(e.message)));
window.addEventListener("load", () => {
  const imgs = Array.from(document.images);
  const out = {
    images: imgs.length,
    broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
    widths: imgs.map(i => i.naturalWidth),
    errors: window.__aekitErrors,
  };
  const pre = document.createElement("pre");
  pre.id = "aekit-check";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _console(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="aekit-chromium-") as profile:
        return subprocess.run(
            [*args[:1], *FLAGS, f"--user-data-dir={profile}", *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def check_page(
    page: str | Path,
    screenshot: str | Path,
    *,
    width: int = 1280,
    height: int = 2400,
    timeout: float = 120,
) -> dict:
    """Load ``page`` twice: once to check it, once to save ``screenshot``.

    Returns ``{"images", "broken", "widths", "errors", "console",
    "screenshot"}``.
    """
    chromium = find_chromium()
    if chromium is None:
        raise FileNotFoundError("no chromium executable on PATH")
    page = Path(page).resolve()
    text = page.read_text(encoding="utf-8")
    # The report forbids scripts; the checking copy allows this inline one only.
    checked = text.replace(
        "style-src 'unsafe-inline'",
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'",
    ).replace("<head>", "<head>" + CHECK_SCRIPT, 1)
    with tempfile.TemporaryDirectory(prefix="aekit-page-") as tmp:
        copy = Path(tmp) / page.name
        copy.write_text(checked, encoding="utf-8")
        dom = _run(
            [chromium, "--virtual-time-budget=10000", "--dump-dom", copy.as_uri()],
            timeout,
        )
    match = re.search(r'<pre id="aekit-check">(.*?)</pre>', dom.stdout, re.S)
    if match is None:
        raise RuntimeError(
            f"Chromium did not report on the page (exit {dom.returncode}): "
            f"{dom.stderr[-2000:]}"
        )
    import html

    result = json.loads(html.unescape(match.group(1)))
    shot = _run(
        [
            chromium,
            f"--window-size={width},{height}",
            f"--screenshot={Path(screenshot).resolve()}",
            page.as_uri(),
        ],
        timeout,
    )
    result["console"] = _console(dom.stderr) + _console(shot.stderr)
    result["screenshot"] = Path(screenshot)
    if not Path(screenshot).exists():
        raise RuntimeError(f"Chromium wrote no screenshot: {shot.stderr[-2000:]}")
    return result

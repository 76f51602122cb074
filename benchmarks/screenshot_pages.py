"""Render every HTML page the tool writes for a run folder in headless Chromium, at 1280 and
768 px, to look at them: report.html, `bench compare --html` (the run against itself) and the
history page of the run's results folder.

    python benchmarks/screenshot_pages.py RUN_DIR [OUT_DIR]

Needs `chromium` on PATH (apt-get install chromium). Writes OUT_DIR/<page>-<width>.png
(default OUT_DIR: /tmp/bench-pages) and prints their paths; nothing is written into the run.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WIDTHS = (1280, 768)


def shoot(page: Path, png: Path, width: int, height: int = 4000) -> None:
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={png}", f"--window-size={width},{height}", page.resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)


def main(argv: list[str]) -> int:
    if not argv or not shutil.which("chromium"):
        print(__doc__, file=sys.stderr)
        return 2
    run = Path(argv[0]).resolve()
    out = Path(argv[1] if len(argv) > 1 else "/tmp/bench-pages")
    out.mkdir(parents=True, exist_ok=True)
    bench = [sys.executable, "-m", "benchharness"]
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(shutil.copytree(run, Path(tmp) / "runs" / run.name))
        subprocess.run([*bench, "report", str(copy)], check=True, capture_output=True)
        pages = {"report": copy / "report.html"}
        subprocess.run([*bench, "compare", str(copy), str(copy), "--html", str(Path(tmp) / "compare.html")],
                       check=False, capture_output=True)
        pages["compare"] = Path(tmp) / "compare.html"
        subprocess.run([*bench, "history", str(copy.parent), "--rebuild", "--html", str(Path(tmp) / "history.html")],
                       check=False, capture_output=True)
        pages["history"] = Path(tmp) / "history.html"
        for name, page in pages.items():
            if not page.is_file():
                print(f"{name}: not written", file=sys.stderr)
                continue
            for width in WIDTHS:
                png = out / f"{name}-{width}.png"
                shoot(page, png, width)
                print(png)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

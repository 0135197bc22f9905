"""Regenerate docs/img/ops-*.png, the screenshots of docs/operations.md, from a real run of the loop.

Runs tests/dags/test_operations_loop.py (Airflow on PostgreSQL, `bentoml serve`, the reviewer page) with
$OPS_LOOP_OUT set, so the test keeps its page screenshot, reports and timings; then opens the real drift and
live-evaluation HTML reports of that run in headless Chromium and writes small PNGs (palette, <200 KB).

    python scripts/ops_screenshots.py                  # run the loop, then screenshot (~5 min on 2 cores)
    python scripts/ops_screenshots.py --run-dir DIR    # reuse the output of an earlier run
Needs Debian's chromium and chromium-driver, and PostgreSQL's server for the run (as the test does)."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
MAX_BYTES = 200_000
SHOTS = {  # report of the run -> (image, window height, what to wait for in the page)
    "drift.html": ("ops-drift.png", 1400, "Drift"),
    "live.html": ("ops-live.png", 1600, "precision"),
}


def run_loop(out: Path) -> None:
    env = {**os.environ, "OPS_LOOP_OUT": str(out)}
    cmd = [sys.executable, "-m", "pytest", "-q", "-s", "tests/dags/test_operations_loop.py"]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)


def small_png(src: Path, dest: Path, width: int = 1100) -> int:
    """``src`` scaled to ``width`` and saved as a 128-colour palette PNG (the docs' images stay small)."""
    from PIL import Image

    img = Image.open(src).convert("RGB")
    if img.width > width:
        img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
    for colours in (128, 64, 32):
        img.quantize(colours, method=Image.Quantize.MEDIANCUT).save(dest, optimize=True)
        if dest.stat().st_size <= MAX_BYTES:
            break
    return dest.stat().st_size


def browser(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, help="output of an earlier run (OPS_LOOP_OUT); default: run now")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="ops-loop-"))
    if args.run_dir is None:
        run_loop(run_dir)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"ops-queue.png: {small_png(run_dir / 'queue.png', args.out / 'ops-queue.png')} bytes")
    profile = Path(tempfile.mkdtemp(prefix="ops-shots-"))
    driver = browser(profile)
    try:
        for report, (image, height, marker) in SHOTS.items():
            driver.set_window_size(1280, height)
            driver.get((run_dir / report).resolve().as_uri())
            deadline = time.time() + 60
            while marker.lower() not in driver.page_source.lower() and time.time() < deadline:
                time.sleep(0.5)
            time.sleep(3)  # the reports draw their plots after the page loads
            raw = run_dir / f"{Path(image).stem}-raw.png"
            driver.save_screenshot(str(raw))
            print(f"{image}: {small_png(raw, args.out / image)} bytes")
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()

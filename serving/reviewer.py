"""The reviewer page: ``serving/ui/`` (plain HTML, JS and SVG; nothing fetched from elsewhere) as an
ASGI app the service mounts at :data:`UI_PATH`. The page itself is static and open like the health
checks (:mod:`serving.guard`); every API call it makes sends the key the reviewer enters."""

from __future__ import annotations

from pathlib import Path

from starlette.staticfiles import StaticFiles

UI_PATH = "/ui"
UI_DIR = Path(__file__).resolve().parent / "ui"


def reviewer_app() -> StaticFiles:
    """``/ui/`` → index.html, ``/ui/reviewer.js`` …; ``/ui`` redirects to ``/ui/``."""
    return StaticFiles(directory=UI_DIR, html=True)

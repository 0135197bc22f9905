"""ASGI middleware in front of the API: upload size limit (413 before the body is read) and an
optional API key. Health checks always stay open (the orchestrator probes them without a key), and so
do GETs of the static reviewer page under ``/ui`` (it holds no data: every API call it makes sends the
key); ``/metrics`` (request counts, latencies, model names) needs the key like the API when one is set.
:func:`sweep_orphan_uploads` removes uploads that a killed server left behind."""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import time
from pathlib import Path
from typing import Any

from serving.reviewer import UI_PATH  # static files, opened by a browser that cannot send the header

OPEN_PATHS = frozenset({"/readyz", "/livez", "/healthz"})
API_KEY_HEADER = b"x-api-key"


async def _send_json(send: Any, status: int, error: str, detail: str) -> None:
    body = json.dumps({"error": error, "detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _is_page(scope: dict[str, Any]) -> bool:
    path = scope["path"]
    on_page = path == UI_PATH or path.startswith(UI_PATH + "/")
    return on_page and scope.get("method") in ("GET", "HEAD")


class GuardMiddleware:
    """Rejects oversize uploads (by Content-Length, or while streaming when it is absent) and,
    when the env var ``api_key_env`` is set, requests without the matching ``X-API-Key`` header."""

    def __init__(self, app: Any, max_bytes: int, api_key_env: str):
        self.app, self.max_bytes, self.api_key_env = app, max_bytes, api_key_env

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or _is_page(scope):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        key = os.environ.get(self.api_key_env)
        if key and not hmac.compare_digest(headers.get(API_KEY_HEADER, b""), key.encode()):
            await _send_json(send, 401, "unauthorized", "missing or wrong X-API-Key header")
            return
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await _send_json(
                send,
                413,
                "too_large",
                f"request body of {int(length) / 1e6:.1f} MB is over the {self.max_bytes / 1e6:.0f} MB upload limit",
            )
            return
        if scope.get("method") not in ("POST", "PUT"):
            await self.app(scope, receive, send)
            return
        state = {"seen": 0, "rejected": False, "started": False}

        async def counting_receive() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > self.max_bytes and not state["rejected"]:
                    state["rejected"] = True
                    if not state["started"]:
                        await _send_json(
                            send,
                            413,
                            "too_large",
                            f"request body is over the {self.max_bytes / 1e6:.0f} MB upload limit",
                        )
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: dict[str, Any]) -> None:
            if state["rejected"]:
                return  # our 413 already went out
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not state["rejected"]:
                raise
            # the endpoint saw the disconnect we faked after our 413: nothing left to do


def sweep_orphan_uploads(temp_root: Path, older_than_s: float) -> int:
    """Delete uploads a killed server left in BentoML's request temp dirs (``bentoml-request-*``):
    no live request is older than the request timeout, so an older file belongs to none. The dirs
    stay (BentoML pools and reuses them). Returns how many files went."""
    cutoff = time.time() - older_than_s
    removed = 0
    for path in temp_root.glob("bentoml-request-*/*"):
        with contextlib.suppress(FileNotFoundError):  # another worker sweeping at the same time
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
    return removed

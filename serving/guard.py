"""ASGI middleware in front of the API: upload size limit (413 before the body is read) and the keys.

Closed by default (:func:`check_keys`, run before the service starts): a server bound to anything but a
loopback address needs the scoring key (``serve.api_key_env``); a key variable that is set but empty is
an error, never "open". The admin key (``serve.admin_key_env``) alone opens the state-changing endpoints
and the review queue (:data:`ADMIN_PATHS`: ``/reload``, ``/review_items``, ``/review_label``): with no
admin key set they answer 403. The admin key also scores.

A request a web page could send cross-site without a CORS preflight (a body that is a form, multipart
or text/plain, or has no type) is refused unless it carries ``X-API-Key``, even on an open loopback
server: a custom header forces the preflight, which this service never grants. The reviewer page sends
the header with every call. Health checks always stay open (the orchestrator probes them without a key),
and so do GETs of the static reviewer page under ``/ui`` (it holds no data); ``/metrics`` needs the key
like the API when one is set. :func:`sweep_orphan_uploads` removes uploads that a killed server left behind."""

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
# change what the service does for everyone, or show people's faces and take their labels: the admin key only
ADMIN_PATHS = frozenset({"/reload", "/review_items", "/review_label"})
API_KEY_HEADER = b"x-api-key"
# the Content-Types a cross-site form or fetch may send with no preflight (b"" = no Content-Type at all)
SIMPLE_TYPES = frozenset({b"", b"application/x-www-form-urlencoded", b"multipart/form-data", b"text/plain"})
LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


class KeyConfigError(RuntimeError):
    """The service's keys do not allow it to start as asked (the message names the variable)."""


def is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that may resolve anywhere: treat it as reachable


def check_keys(environ: Any, host: str | None, api_key_env: str, admin_key_env: str) -> None:
    """Refuse to start with an empty key, or on a non-loopback ``host`` without the scoring key
    (``host`` None: not known here, as in a worker process: only the empty-key rule applies)."""
    for name in (api_key_env, admin_key_env):
        if name in environ and not environ[name].strip():
            raise KeyConfigError(f"{name} is set but empty: set a key, or unset it to serve on loopback only")
    if host is not None and not is_loopback(host) and not environ.get(api_key_env):
        raise KeyConfigError(
            f"refusing to serve on {host} without a key: set {api_key_env} (and {admin_key_env} for /reload), "
            "or serve on 127.0.0.1"
        )


def _content_type(headers: dict[bytes, bytes]) -> bytes:
    return headers.get(b"content-type", b"").split(b";")[0].strip().lower()


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
    """Rejects oversize uploads (by Content-Length, or while streaming when it is absent), requests
    without the matching ``X-API-Key`` when the env var ``api_key_env`` is set, admin paths without the
    admin key (``admin_key_env``), and cross-site "simple" requests that carry no key header."""

    def __init__(
        self,
        app: Any,
        max_bytes: int,
        api_key_env: str,
        admin_key_env: str = "DEEPFAKE_ADMIN_KEY",
        max_parts: int | None = None,
    ):
        self.app, self.max_bytes, self.max_parts = app, max_bytes, max_parts
        self.api_key_env, self.admin_key_env = api_key_env, admin_key_env

    def _refusal(self, scope: dict[str, Any], headers: dict[bytes, bytes]) -> tuple[int, str, str] | None:
        given = headers.get(API_KEY_HEADER)
        admin = os.environ.get(self.admin_key_env) or ""
        is_admin = bool(admin) and given is not None and hmac.compare_digest(given, admin.encode())
        if scope["path"] in ADMIN_PATHS:
            if not admin:
                return 403, "forbidden", f"{scope['path']} is off: the server has no admin key ({self.admin_key_env})"
            if not is_admin:
                return 401, "unauthorized", f"{scope['path']} needs the admin key in the X-API-Key header"
            return None
        key = os.environ.get(self.api_key_env) or ""
        if key and not is_admin and not (given is not None and hmac.compare_digest(given, key.encode())):
            return 401, "unauthorized", "missing or wrong X-API-Key header"
        unsafe = scope.get("method") not in ("GET", "HEAD", "OPTIONS")
        if given is None and unsafe and _content_type(headers) in SIMPLE_TYPES:
            return (
                403,
                "forbidden",
                "a form, multipart or text/plain request needs the X-API-Key header (empty when the server "
                "has no key): web pages of other sites cannot send it",
            )
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS or _is_page(scope):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await _send_json(send, *refusal)
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
        parts = _PartCounter(headers) if self.max_parts is not None else None

        async def reject(error: str, detail: str) -> dict[str, Any]:
            state["rejected"] = True
            if not state["started"]:
                await _send_json(send, 413, error, detail)
            return {"type": "http.disconnect"}

        async def counting_receive() -> dict[str, Any]:
            message = await receive()
            if message["type"] == "http.request" and not state["rejected"]:
                body = message.get("body", b"")
                state["seen"] += len(body)
                if state["seen"] > self.max_bytes:
                    return await reject(
                        "too_large", f"request body is over the {self.max_bytes / 1e6:.0f} MB upload limit"
                    )
                if parts is not None and parts.feed(body) > self.max_parts:
                    return await reject(
                        "too_many_parts",
                        f"request has more than {self.max_parts} form parts (files and fields): "
                        "send fewer files per request (serve.max_batch_images)",
                    )
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


class _PartCounter:
    """Counts the parts of a multipart body as it streams (boundary lines, across chunk edges), so a
    request with more parts than any endpoint takes is refused before the form parser holds them all."""

    def __init__(self, headers: dict[bytes, bytes]):
        ctype = headers.get(b"content-type", b"")
        boundary = next((p.split(b"=", 1)[1].strip(b'"') for p in ctype.split(b";")[1:] if b"boundary=" in p), b"")
        self.marker = b"--" + boundary if _content_type(headers) == b"multipart/form-data" and boundary else None
        self.tail, self.count = b"", 0

    def feed(self, chunk: bytes) -> int:
        """Parts begun so far (the closing ``--boundary--`` counts one too many: callers allow for it)."""
        if self.marker is None:
            return 0
        data = self.tail + chunk
        self.count += data.count(self.marker)
        keep = len(self.marker) - 1
        self.tail = data[-keep:] if keep else b""
        return max(self.count - 1, 0)


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

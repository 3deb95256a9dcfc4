"""ASGI guards in front of the labeling app: the last line of defence (any unexpected error answers a JSON 500
with an error id), a body-size and body-time limit, and the host and origin checks.

They run before FastAPI parses anything, so an oversized or too slow body, a request by another host name (DNS
rebinding) or a cross-site write is answered (413, 408, 400, 403) without reaching a route.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

__all__ = ["BodyLimit", "CatchAll", "SameOrigin", "error_body"]

#: Where an unexpected error's traceback goes, under its error id (uvicorn's own error log).
log = logging.getLogger("uvicorn.error")

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def error_body(message: str, **extra: Any) -> dict[str, Any]:
    """The API's error shape: ``{"error": "<one sentence>"}`` (plus, for some errors, fields such as ``version``
    or ``error_id``)."""
    return {"error": message, **extra}


async def _answer(send: Callable[[dict], Awaitable[None]], status: int, message: str, *,
                  close: bool = False, **extra: Any) -> None:
    body = json.dumps(error_body(message, **extra)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def unexpected(method: str, path: str, err: BaseException) -> tuple[str, str]:
    """Log an unexpected error's traceback under a new error id; the id and the sentence the client gets."""
    error_id = secrets.token_hex(6)
    log.error("unexpected error %s on %s %s", error_id, method, path, exc_info=err)
    return error_id, (f"the server failed on this request (error id {error_id}); this is a bug, not your "
                      "request: the server's log has the details under that id")


class CatchAll:
    """The last line of defence: an exception no route or guard answered becomes a JSON 500 with an error id,
    its traceback only in the server's log (under that id), never in the answer.

    Used twice: outermost, around the guards, and inside FastAPI's own error middleware (``add_middleware``), so
    that FastAPI never answers its plain-text "Internal Server Error".
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as err:  # noqa: BLE001 - the point of this guard: nothing unexpected reaches the client
            error_id, message = unexpected(scope.get("method", "?"), scope.get("path", "?"), err)
            if not started:
                await _answer(send, 500, message, error_id=error_id)


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, by Content-Length or by counting a streamed body, and
    bodies that have not all arrived ``timeout_s`` seconds after the headers with 408 (and close the connection):
    a client that sends less than its Content-Length holds no connection for longer.

    The body is read here, before the app sees it (bodies are small: selections of point ids), so an
    oversized or stalled one is answered however it is sent.
    """

    def __init__(self, app: Any, max_bytes: int, timeout_s: float) -> None:
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = f"request body too large (limit {self.max_bytes} bytes): select fewer points"
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await _answer(send, 413, message)
            return
        chunks, size, more = [], 0, True
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        while more:
            try:
                event = await asyncio.wait_for(receive(), max(0.0, deadline - asyncio.get_running_loop().time()))
            except TimeoutError:
                await _answer(send, 408, f"the request body did not all arrive within {self.timeout_s:g} s "
                                         "(labeling.timeouts.body_s): send it at once, as long as its "
                                         "Content-Length says", close=True)
                return
            if event["type"] != "http.request":  # the client went away
                return
            chunks.append(event.get("body", b""))
            size += len(chunks[-1])
            more = event.get("more_body", False)
            if size > self.max_bytes:
                await _answer(send, 413, message)
                return
        delivered = False

        async def replay() -> dict:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


def _host_name(host: str) -> str:
    """The name in a ``Host`` header: without its port, and an IPv6 address without brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class SameOrigin:
    """Answer only to the allowed host names (400), and refuse a write whose ``Origin`` is another site (403).

    The ``Host`` check keeps out pages that reach the server under a name of their own (DNS rebinding); the
    ``Origin`` check keeps other sites' pages from writing through the user's browser. Browsers send
    ``Origin`` with every write; clients that send none (scripts, curl) are let through.

    Args:
        app: The app behind.
        hosts: The allowed names (see :func:`allowed_hosts`); None allows any.
    """

    def __init__(self, app: Any, hosts: frozenset[str] | None) -> None:
        self.app, self.hosts = app, hosts

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            host = headers.get(b"host", b"").decode("latin-1")
            if self.hosts is not None and _host_name(host) not in self.hosts:
                await _answer(send, 400, f"this server answers only to {', '.join(sorted(self.hosts))}, not to "
                                         f"the host {host!r}: open it by the address it printed")
                return
            origin = headers.get(b"origin")
            if origin is not None and scope["method"] not in SAFE_METHODS:
                origin_text = origin.decode("latin-1")
                parts = urlsplit(origin_text)
                if parts.scheme not in ("http", "https") or parts.netloc.lower() != host.lower():
                    await _answer(send, 403, f"writes are taken only from this server's own page "
                                             f"(http://{host}), not from {origin_text!r}")
                    return
        await self.app(scope, receive, send)

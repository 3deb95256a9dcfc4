"""ASGI guards in front of the labeling app: a body-size limit, and the host and origin checks.

They run before FastAPI parses anything, so an oversized body, a request by another host name (DNS rebinding)
or a cross-site write is answered (413, 400, 403) without reaching a route.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

__all__ = ["BodyLimit", "SameOrigin"]

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


async def _answer(send: Callable[[dict], Awaitable[None]], status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, by Content-Length or by counting a streamed body.

    The body is read here, before the app sees it (bodies are small: selections of point ids), so an
    oversized one is answered 413 however it is sent.
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

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
        while more:
            event = await receive()
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

"""How uvicorn serves the labeling app: its timeouts for slow clients, in one place for ``articulate label`` and
the tests.

uvicorn closes an idle connection between requests (``timeout_keep_alive``) and bounds the size of a request's
head (``h11_max_incomplete_event_size``), but it waits for ever for a request line and headers that arrive
slowly, or not at all: :class:`HeaderTimeoutProtocol` closes such a connection after ``timeouts.header_s``, and
answers a request that is not HTTP (a malformed request line or header, a head over ``max_header_bytes``) in
the API's JSON error shape rather than uvicorn's plain text. The body's time is bounded by
:class:`labeling.guards.BodyLimit` (408).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn import Config
from uvicorn.protocols.http.h11_impl import H11Protocol

from labeling.guards import error_body
from labeling.settings import Timeouts

__all__ = ["HeaderTimeoutProtocol", "uvicorn_config"]


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose request line and headers have not all arrived within
    ``header_timeout_s`` seconds of its opening (or of the first byte of a next request)."""

    header_timeout_s: float = 10.0  # set per server by :func:`uvicorn_config`

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:  # still waiting for a complete request head
            self._arm_header_timer()
        else:
            self._cancel_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """A request h11 cannot read: 400 with ``{"error": ...}``, and the connection closed (as uvicorn does)."""
        body = json.dumps(error_body(f"not a valid HTTP request ({msg.rstrip('.')}): check the request line and "
                                     "headers, which may hold at most labeling.timeouts.max_header_bytes")).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"), h11.Data(data=body),
                      h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout_s, self._header_timeout)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timeout(self) -> None:
        self._header_timer = None
        # Only while no request is being answered: a keep-alive connection between requests is uvicorn's to close.
        if self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()


def uvicorn_config(app: Any, timeouts: Timeouts, **options: Any) -> Config:
    """uvicorn's configuration for the app, with the server's timeouts and head-size limit.

    Args:
        app: The ASGI app (:func:`labeling.app.create_app`).
        timeouts: ``labeling.timeouts``.
        options: Further ``uvicorn.Config`` options (host, port, log_level, lifespan).

    Returns:
        The configuration (serve it with ``uvicorn.Server``).
    """
    protocol = type("LabelingH11Protocol", (HeaderTimeoutProtocol,), {"header_timeout_s": float(timeouts.header_s)})
    return Config(app, http=protocol, timeout_keep_alive=timeouts.keep_alive_s,  # type: ignore[arg-type]
                  h11_max_incomplete_event_size=int(timeouts.max_header_bytes), **options)

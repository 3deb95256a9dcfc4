"""The artist's room: a web app to browse one round's atlas and promote clusters to named concepts.

Start it with ``articulate label`` (options: ``--round R``, ``--port P``, ``--host H``, Hydra overrides with
``-o KEY=VALUE``); it serves ``http://127.0.0.1:8765`` by default and prints the address. The HTTP API is
documented in ``labeling/API.md``; the page is ``labeling/static/``.

Safe by default: it binds loopback; on any other address it requires a token (``labeling.token``, or a random
one it prints), sent as ``?token=`` once (then kept in a cookie) or as ``Authorization: Bearer``. It answers
only to the host names it was started for (a page elsewhere cannot reach it by DNS rebinding), takes writes
only from its own page (``Origin``), and every write names the store version it read (``expected_version``).
It serves files only from the round's atlas folder (anything else, ``..`` included, answers 404), renders
patches from the dataset itself, and refuses request bodies over ``labeling.max_request_bytes`` (413).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import secrets
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from omegaconf import DictConfig
from pydantic import BaseModel, ConfigDict, Field

from labeling.atlas_view import AtlasView, NotInAtlasError, Selection, SelectionError
from conceptstore.events import describe_event
from conceptstore.store import ConceptError, ConceptStore, ConflictError, StoreBusyError, UnknownConceptError
from pipeline.errors import ArticulateError, ConfigError
from pipeline.text import plural

__all__ = ["AppSettings", "create_app", "serve"]

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
TOKEN_COOKIE = "articulate_token"
CACHE_AN_HOUR = {"Cache-Control": "public, max-age=3600"}
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # bound to every interface: any name may reach it (the token guards)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
VERSION_NEEDED = ("every write needs expected_version: the store version the page last read (GET /api/concepts "
                  "answers it); a stale one answers 409")


@dataclass(frozen=True)
class AppSettings:
    """How the server runs.

    Args:
        host: Address to bind; anything but loopback requires ``token``.
        port: Port (0: any free one).
        token: Access token, or None (loopback only).
        max_request_bytes: Largest request body accepted.
        split_k: Default number of sub-clusters when a concept is split by sub-clustering.
        actor: Who the concept store records as making the changes.
    """

    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    max_request_bytes: int = 1_000_000
    split_k: int = 2
    actor: str = "web"

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"labeling.port: expected 0..65535, got {self.port}")
        if self.max_request_bytes < 1024:
            raise ConfigError(f"labeling.max_request_bytes: expected at least 1024, got {self.max_request_bytes}")
        if self.split_k < 2:
            raise ConfigError(f"labeling.split_k: expected at least 2, got {self.split_k}")
        if not is_loopback(self.host) and not self.token:
            raise ConfigError(f"labeling.host={self.host} is not loopback: set labeling.token (or leave it null "
                              "with `articulate label`, which then makes one and prints it)")

    @classmethod
    def from_config(cls, cfg: DictConfig, **changes: Any) -> AppSettings:
        node = cfg.labeling
        values = dict(host=str(node.host), port=int(node.port), token=node.token, split_k=int(node.split_k),
                      max_request_bytes=int(node.max_request_bytes))
        values.update({k: v for k, v in changes.items() if v is not None})
        if not is_loopback(values["host"]) and not values["token"]:
            values["token"] = secrets.token_urlsafe(24)
        return cls(**values)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1 or localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --- request bodies ---------------------------------------------------------------------------------------

class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    expected_version: int  # required: a write without it could silently overwrite what another writer did


class SelectionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cluster: int | None = None
    cell: int | None = None
    points: list[int] | None = None
    concept: str | None = None
    exemplars: int | None = Field(default=None, ge=1, le=500)


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = "lasso"
    cluster: int | None = None
    cell: int | None = None


class PromoteBody(_Body):
    name: str
    points: list[int]
    unticked: list[int] = []
    seen: list[int] = []  # the exemplars the page showed: those kept are the concept's verified positives
    source: Source = Source()
    notes: str = ""


class AddBody(_Body):
    points: list[int]
    unticked: list[int] = []
    seen: list[int] = []
    source: Source = Source()


class RenameBody(_Body):
    name: str


class NotesBody(_Body):
    notes: str = Field(max_length=10_000)


class MergeBody(_Body):
    ids: list[str]
    name: str | None = None


class SplitBody(_Body):
    points: list[int] | None = None
    name: str | None = None
    k: int | None = Field(default=None, ge=2, le=20)


# --- the app ----------------------------------------------------------------------------------------------

def create_app(view: AtlasView, store: ConceptStore, settings: AppSettings = AppSettings()) -> FastAPI:
    """The labeling app for one atlas and one concept store.

    Args:
        view: The round's atlas.
        store: The concept store the page edits.
        settings: Token, request limit, split default, actor.

    Returns:
        The ASGI app (serve it with uvicorn; see :func:`serve`).
    """
    app = FastAPI(title="Articulate labeling", docs_url=None, redoc_url=None, openapi_url=None)
    write_lock = threading.Lock()  # one write at a time in this process; the store's file lock guards others

    # --- errors: one JSON sentence per mistake -------------------------------------------------------------
    @app.exception_handler(ArticulateError)
    async def _articulate_error(request: Request, err: ArticulateError) -> JSONResponse:
        status = (409 if isinstance(err, ConflictError) else
                  404 if isinstance(err, (UnknownConceptError, NotInAtlasError)) else
                  503 if isinstance(err, StoreBusyError) else 400)
        body: dict[str, Any] = {"error": str(err)}
        if isinstance(err, ConflictError):
            body["version"] = err.current_version
        return JSONResponse(body, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, err: RequestValidationError) -> JSONResponse:
        first = err.errors()[0] if err.errors() else {}
        loc = tuple(first.get("loc", ()))
        if first.get("type") == "missing" and loc[-1:] == ("expected_version",):
            return JSONResponse({"error": VERSION_NEEDED}, status_code=400)
        if first.get("type") == "missing" and loc == ("body",):
            return JSONResponse({"error": f"this write needs a JSON body (labeling/API.md): {VERSION_NEEDED}"},
                                status_code=400)
        where = ".".join(str(p) for p in loc if p != "body") or "request"
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid request')}"}, status_code=400)

    # --- files -----------------------------------------------------------------------------------------------
    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index(token: str | None = None) -> Response:
        response = FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})
        if settings.token and token:
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(plotly_bundle(), media_type="text/javascript", headers=CACHE_AN_HOUR)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    atlas_root = view.folder.resolve()

    @app.get("/atlas/{path:path}", include_in_schema=False)
    def atlas_file(path: str) -> Response:
        target = (atlas_root / path).resolve()
        if not target.is_relative_to(atlas_root) or not target.is_file():
            return JSONResponse({"error": f"no file {path!r} in the atlas folder"}, status_code=404)
        return FileResponse(target, headers=CACHE_AN_HOUR)

    @app.get("/api/patch/{point}.png", include_in_schema=False)
    def patch(point: int) -> Response:
        return Response(view.patch_png(point), media_type="image/png", headers=CACHE_AN_HOUR)

    @app.get("/api/sketch/{point}.png", include_in_schema=False)
    def sketch(point: int) -> Response:
        return Response(view.sketch_png(point), media_type="image/png", headers=CACHE_AN_HOUR)

    # --- reading ---------------------------------------------------------------------------------------------
    @app.get("/api/atlas")
    def atlas() -> dict[str, Any]:
        return {**view.summary(), "store": store.path.as_posix()}

    @app.get("/api/points")
    def points() -> dict[str, list]:
        return view.columns()

    @app.get("/api/concepts")
    def concepts() -> dict[str, Any]:
        return concept_list(view, store)

    @app.get("/api/events")
    def events(limit: int = Query(default=20, ge=1, le=1000)) -> dict[str, Any]:
        recent = store.events()[-limit:][::-1]
        return {"version": store.state().version,
                "events": [{"version": e.get("version"), "time": e.get("time"), "actor": e.get("actor"),
                            "op": e.get("op"), "summary": describe_event(e)} for e in recent]}

    @app.post("/api/selection")
    def selection(body: SelectionBody) -> dict[str, Any]:
        return view.describe(_selection(view, store, body), body.exemplars)

    # --- writes ----------------------------------------------------------------------------------------------
    def write(action: Callable[[], Any]) -> dict[str, Any]:
        with write_lock:
            change = action()
        return {**concept_list(view, store), "changed": list(change.concept_ids)}

    @app.post("/api/concepts", status_code=201)
    def promote(body: PromoteBody) -> dict[str, Any]:
        judged = view.judged_positions(body.points, body.unticked, body.seen)
        return write(lambda: store.promote(body.name, judged.positives, judged.negatives, layer=view.layer,
                                           born_round=view.round, source=_source(view, body.source), notes=body.notes,
                                           unticked=len(judged.negatives), verified=judged.verified,
                                           expected_version=body.expected_version, actor=settings.actor))

    @app.post("/api/concepts/merge")
    def merge(body: MergeBody) -> dict[str, Any]:
        return write(lambda: store.merge(body.ids, body.name, expected_version=body.expected_version,
                                         actor=settings.actor))

    @app.post("/api/concepts/{ref}/add")
    def add(ref: str, body: AddBody) -> dict[str, Any]:
        judged = view.judged_positions(body.points, body.unticked, body.seen)
        return write(lambda: store.add(ref, judged.positives, judged.negatives, source=_source(view, body.source),
                                       unticked=len(judged.negatives), verified=judged.verified,
                                       expected_version=body.expected_version, actor=settings.actor))

    @app.post("/api/concepts/{ref}/rename")
    def rename(ref: str, body: RenameBody) -> dict[str, Any]:
        return write(lambda: store.rename(ref, body.name, expected_version=body.expected_version, actor=settings.actor))

    @app.post("/api/concepts/{ref}/notes")
    def notes(ref: str, body: NotesBody) -> dict[str, Any]:
        return write(lambda: store.set_notes(ref, body.notes, expected_version=body.expected_version,
                                             actor=settings.actor))

    @app.post("/api/concepts/{ref}/split")
    def split(ref: str, body: SplitBody) -> dict[str, Any]:
        groups = split_groups(view, store, ref, points=body.points, name=body.name,
                              k=body.k if body.points is None else None, default_k=settings.split_k)
        return write(lambda: store.split(ref, groups, expected_version=body.expected_version, actor=settings.actor))

    @app.delete("/api/concepts/{ref}")
    def delete(ref: str, expected_version: int) -> dict[str, Any]:
        return write(lambda: store.delete(ref, expected_version=expected_version, actor=settings.actor))

    @app.post("/api/undo")
    def undo(body: _Body) -> dict[str, Any]:
        return write(lambda: store.undo(expected_version=body.expected_version, actor=settings.actor))

    guarded: Any = BodyLimit(app, settings.max_request_bytes)
    if settings.token:
        guarded = TokenGate(guarded, settings.token)
    # Outermost: a request by another name (DNS rebinding) or a cross-site write learns nothing, not even the
    # token gate's answer.
    return SameOrigin(guarded, allowed_hosts(settings.host))  # type: ignore[return-value]


def allowed_hosts(host: str) -> frozenset[str] | None:
    """The names a server bound to ``host`` answers to: loopback's and ``host``; None (any) on every interface."""
    if host in WILDCARD_HOSTS:
        return None
    return frozenset({*LOOPBACK_NAMES, host.strip("[]").lower()})


def concept_list(view: AtlasView, store: ConceptStore) -> dict[str, Any]:
    """The concepts as the page lists them, with the atlas points among each concept's positives."""
    state = store.state()
    return {"version": state.version,
            "concepts": [{"id": c.id, "name": c.name, "born_round": c.born_round, "layer": c.layer,
                          "source": c.source, "notes": c.notes, "n_positives": len(c.positives),
                          "n_negatives": len(c.negatives), "points": view.points_of(c.positives)}
                         for c in state.concepts]}


def split_groups(view: AtlasView, store: ConceptStore, ref: str, *, points: list[int] | None = None,
                 name: str | None = None, k: int | None = None, default_k: int = 2) -> list[tuple[str, list]]:
    """The groups a split makes: chosen atlas points (a lasso) as one new concept, or sub-clusters.

    By sub-clustering (``k`` groups by k-means on the activations of the concept's positives in this round's
    store), the largest group stays and every other becomes a new concept named ``<name> (2)``, ``(3)``...

    Raises:
        ConceptError: Nothing of the concept among the points.
        SelectionError: Too few of its positions in this round's store for ``k`` groups.
    """
    concept = store.state().get(ref)
    if points is not None:
        moving = set(view.positions(points)) & set(concept.positives)
        if not moving:
            raise ConceptError(f"none of the selected points belong to '{concept.name}': lasso some of its points")
        return [(name or f"{concept.name} (split)", sorted(moving))]
    groups = view.subclusters(concept.positives, k or default_k)
    return [(f"{concept.name} ({i + 2})", sorted(group)) for i, group in enumerate(groups[1:])]


def _selection(view: AtlasView, store: ConceptStore, body: SelectionBody) -> Selection:
    if body.concept is not None:
        concept = store.state().get(body.concept)
        ids = view.points_of(concept.positives)
        if not ids:
            raise SelectionError(f"'{concept.name}' has no points in the round {view.round} atlas")
        return Selection("concept", concept.id, view.check_points(ids))
    return view.select(cluster=body.cluster, cell=body.cell, points=body.points)


def _source(view: AtlasView, source: Source) -> dict[str, Any]:
    key = source.cluster if source.kind == "cluster" else source.cell if source.kind == "cell" else None
    return view.source(source.kind, key)


def plotly_bundle() -> Path:
    """Plotly.js as shipped inside the ``plotly`` Python package (no network needed)."""
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


# --- ASGI guards ----------------------------------------------------------------------------------------------

ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


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


class TokenGate:
    """Require the token (query ``token``, cookie, or ``Authorization: Bearer``) on every request."""

    def __init__(self, app: Any, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and not self._allowed(scope):
            await _answer(send, 401, "this server needs its access token: open the address it printed "
                                     "(with ?token=...) or send 'Authorization: Bearer <token>'")
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: dict) -> bool:
        from http.cookies import SimpleCookie
        from urllib.parse import parse_qs

        headers = dict(scope.get("headers") or [])
        offered = parse_qs(scope.get("query_string", b"").decode()).get("token", [])
        auth = headers.get(b"authorization", b"").decode()
        if auth.startswith("Bearer "):
            offered.append(auth[7:])
        cookie = SimpleCookie(headers.get(b"cookie", b"").decode())
        if TOKEN_COOKIE in cookie:
            offered.append(cookie[TOKEN_COOKIE].value)
        return any(secrets.compare_digest(t, self.token) for t in offered)


def serve(cfg: DictConfig, *, round_: int | None = None, host: str | None = None, port: int | None = None,
          token: str | None = None) -> None:
    """Build the app for a round and serve it until interrupted, printing the address to open."""
    import uvicorn

    settings = AppSettings.from_config(cfg, host=host, port=port, token=token)
    view = AtlasView.from_config(cfg, round_)
    store = ConceptStore(cfg.paths.concepts, actor=settings.actor)
    store.recover()  # finish or drop a write a crash interrupted, before the page reads the store
    app = create_app(view, store, settings)
    address = f"http://{settings.host}:{settings.port}/" + (f"?token={settings.token}" if settings.token else "")
    print(f"Articulate labeling: round {view.round} atlas ({view.layer}, {plural(len(view), 'point')}), "
          f"concepts in {store.path}\n"
          f"open {address}\n"
          "  select a cluster, a cell or lasso points; untick the exemplars that do not belong; name and promote.\n"
          f"  When done, stop with Ctrl-C and run `make run` (or `dvc repro`): it builds round {view.round + 1} "
          "from your concepts.", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")

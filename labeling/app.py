"""The artist's room: a web app to browse one round's atlas and promote clusters to named concepts.

Start it with ``articulate label`` (options: ``--round R``, ``--port P``, ``--host H``, Hydra overrides with
``-o KEY=VALUE``); it serves ``http://127.0.0.1:8765`` by default and prints the address. The HTTP API is
documented in ``docs/reference/http-api.md``; the page is ``labeling/static/``.

Safe by default: it binds loopback; on any other address it requires a token (``labeling.token``, or a random
one it prints), sent as ``?token=`` once (then kept in a cookie) or as ``Authorization: Bearer``
(:func:`labeling.deps.require_token`, on every route; the page's own scripts and styles under ``/static`` are
public). It answers only to the host names it was started for (a page elsewhere cannot reach it by DNS
rebinding), takes writes only from its own page (``Origin``), and every write names the store version it read
(``expected_version``). It serves files only from the round's atlas folder (anything else, ``..`` included,
answers 404), renders patches from the dataset itself, and refuses request bodies over
``labeling.max_request_bytes`` (413) or slower than ``labeling.timeouts`` (408; slow headers close the
connection). Errors answer one JSON sentence, ``{"error": ...}``, with the status the error's class carries
(``ArticulateError.status_code``: 400, 404, 409, 503); anything unexpected answers 500 with an ``error_id`` that
names its traceback in the server's log (:class:`labeling.guards.CatchAll`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from omegaconf import DictConfig
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from conceptstore.store import ConceptStore, ConflictError
from labeling.atlas_view import AtlasView
from labeling.deps import Atlases, CoachHost, Rounds, provide, require_token
from labeling.guards import BodyLimit, CatchAll, SameOrigin, error_body
from labeling.routes import atlas, concepts, draw, dream, edit, files, limits, reliance, review, showme, visualize
from labeling.server import uvicorn_config
from labeling.settings import AppSettings, allowed_hosts, app_settings
from core.errors import ArticulateError
from pipeline.rounds import built_rounds
from core.text import plural

if TYPE_CHECKING:
    from pipeline.coach.coach import Coach

__all__ = ["AppSettings", "create_app", "serve"]

log = logging.getLogger(__name__)
VERSION_NEEDED = ("every write needs expected_version: the store version the page last read (GET /api/concepts "
                  "answers it); a stale one answers 409")


def create_app(view: AtlasView, store: ConceptStore, settings: AppSettings,
               coach: Callable[[], Coach] | None = None, rounds: Rounds | None = None) -> Any:
    """The labeling app for one atlas and one concept store.

    Args:
        view: The round's atlas.
        store: The concept store the page edits.
        settings: Token, request limit, split default, actor.
        coach: Builds the round's drawing coach for the ``/draw`` page (called on first use); None: no coach.
        rounds: The other built rounds the atlas page may switch to (``?round=R``); None: only ``view``'s.

    Returns:
        The ASGI app (serve it with uvicorn; see :func:`serve`): the FastAPI app behind its guards.
    """
    app = FastAPI(title="Articulate labeling", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(require_token)], lifespan=_lifespan)
    coaching = CoachHost(coach)
    provide(app.state, atlases=Atlases(view, rounds), store=store, settings=settings, coaching=coaching)
    app.add_exception_handler(ArticulateError, _articulate_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for router in (files.router, atlas.router, concepts.router, draw.router, edit.router,
                   edit.page_router, dream.router, visualize.router, showme.router, reliance.router, limits.router,
                   review.router):
        app.include_router(router)
    app.mount("/static", files.StaticFolder(directory=files.STATIC), name="static")
    app.add_middleware(CatchAll)  # inside FastAPI's own error middleware, which would answer plain text
    coaching.start()  # in the background: the first drawing need not wait for the model and its canon
    # Outermost: a request by another name (DNS rebinding) or a cross-site write learns nothing, not even the
    # token's answer.
    return CatchAll(SameOrigin(BodyLimit(app, settings.max_request_bytes, settings.timeouts.body_s),
                               allowed_hosts(settings.host)))


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """On shutdown, stop the coach's build (at a safe point) before the process may exit."""
    yield
    await run_in_threadpool(app.state.coaching.stop)


async def _articulate_error(request: Request, err: Exception) -> JSONResponse:
    """A user's mistake: one sentence, with the status its class carries."""
    body = error_body(str(err))
    if isinstance(err, ConflictError):
        body["version"] = err.current_version
    return JSONResponse(body, status_code=getattr(err, "status_code", 400))


async def _http_error(request: Request, err: Exception) -> JSONResponse:
    """An HTTP error; the router's bare "Not Found" and "Method Not Allowed" become sentences saying what to do."""
    assert isinstance(err, HTTPException)
    message = str(err.detail)
    path = request.url.path if len(request.url.path) <= 80 else f"{request.url.path[:77]}..."
    if err.status_code == 404 and message == "Not Found":
        message = f"no page, file or API route {path!r} here: see docs/reference/http-api.md for the routes"
    elif err.status_code == 405 and message == "Method Not Allowed":
        message = f"{path!r} does not take {request.method}: see docs/reference/http-api.md for the routes"
    return JSONResponse(error_body(message), status_code=err.status_code, headers=err.headers)


async def _validation_error(request: Request, err: Exception) -> JSONResponse:
    """A malformed request: which field, and what was wrong with it (a missing version says what it is)."""
    assert isinstance(err, RequestValidationError)
    first = err.errors()[0] if err.errors() else {}
    loc = tuple(first.get("loc", ()))
    if first.get("type") == "missing" and loc[-1:] == ("expected_version",):
        return JSONResponse(error_body(VERSION_NEEDED), status_code=400)
    if first.get("type") == "missing" and loc == ("body",):
        return JSONResponse(error_body(f"this write needs a JSON body (docs/reference/http-api.md): {VERSION_NEEDED}"),
                            status_code=400)
    where = ".".join(str(p) for p in loc if p != "body") or "request"
    return JSONResponse(error_body(f"{where}: {first.get('msg', 'invalid request')}"), status_code=400)


def serve(cfg: DictConfig, *, round_: int | None = None, host: str | None = None, port: int | None = None,
          token: str | None = None) -> None:
    """Build the app for a round and serve it until interrupted, printing the address to open."""
    import uvicorn

    settings = app_settings(cfg, host=host, port=port, token=token)
    view = AtlasView.load(cfg, round_)
    store = ConceptStore(cfg.paths.concepts, actor=settings.actor)
    store.recover()  # finish or drop a write a crash interrupted, before the page reads the store
    rounds = Rounds(built=partial(built_rounds, cfg.paths.atlases), open=partial(AtlasView.load, cfg))
    app = create_app(view, store, settings, coach=partial(_coach, cfg, view.round), rounds=rounds)
    config = uvicorn_config(app, settings.timeouts, host=settings.host, port=settings.port, log_level="warning")
    address = f"http://{settings.host}:{settings.port}/" + (f"?token={settings.token}" if settings.token else "")
    print(f"Articulate labeling: round {view.round} atlas ({view.layer}, {plural(len(view), 'point')}), "
          f"concepts in {store.path}\n"
          f"open {address}\n"
          "  select a cluster, a cell or lasso points; untick the exemplars that do not belong; name and promote.\n"
          f"  draw at {address.split('?')[0]}draw: the round's model says what your drawing has and lacks.\n"
          f"  When done, stop with Ctrl-C and run `make run` (or `dvc repro`): it builds round {view.round + 1} "
          "from your concepts.", flush=True)
    uvicorn.Server(config).run()


def _coach(cfg: DictConfig, round_: int) -> Coach:
    from pipeline.coach.coach import Coach

    return Coach.load(cfg, round_)

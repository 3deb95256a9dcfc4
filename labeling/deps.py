"""What a route of the labeling app needs, each as a FastAPI dependency of its own type: the atlas shown
(:data:`ViewDep`, the session's own :data:`SessionViewDep`, the rounds :data:`AtlasesDep`), the concept store and
its write lock, the settings, the drawing coach (:data:`CoachDep`, its build :data:`CoachingDep`), the editor on
its network (:data:`EditorDep`), the dream's copy of the network (:data:`DreamNetDep`), the one scoring lock, the
job worker, the probe cache, and the access token (:func:`require_token`).

:func:`provide` puts the session's resources on the app (``app.state``); a route declares only the ones it uses,
and a helper is given them as arguments, so a test can build an app around any view and store.
"""

from __future__ import annotations

import copy
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import torch
from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import APIKeyCookie, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import State

from conceptstore.store import ConceptStore
from core.errors import ArticulateError
from labeling.atlas_view import AtlasView
from labeling.jobs import Jobs
from labeling.preview import ProbeCache
from labeling.selections import Selections
from labeling.settings import AppSettings
from pipeline.coach.coach import Coach
from pipeline.coach.runtime import StoppableThread
from pipeline.editing.runner import LayerRunner
from pipeline.editing.surgery import Surgeon

__all__ = ["TOKEN_COOKIE", "Atlases", "AtlasesDep", "CoachDep", "CoachHost", "CoachUnavailable", "CoachingDep",
           "DreamNetDep", "Editor", "EditorDep", "JobsDep", "ProbesDep", "Rounds", "ScoreLockDep", "SelectionsDep",
           "SessionViewDep", "SettingsDep", "StoreDep", "UnknownRoundError", "ViewDep", "WriteLockDep", "provide",
           "require_token"]

TOKEN_COOKIE = "articulate_token"
TOKEN_NEEDED = ("this server needs its access token: open the address it printed (with ?token=...) or send "
                "'Authorization: Bearer <token>'")


#: Other rounds' atlases kept open at once besides the session's (each holds its points and activation cache).
OTHER_VIEWS_KEPT = 2


class UnknownRoundError(ArticulateError):
    """A round whose atlas is not built (or a server that shows only its own round)."""

    status_code = 404


class CoachUnavailable(ArticulateError):
    """The app has no drawing coach, or it could not be built."""

    status_code = 503


@dataclass(frozen=True)
class Rounds:
    """The built rounds' atlases, for the page's round switch.

    Attributes:
        built: Lists the rounds whose atlas is built, in order.
        open: Opens one round's atlas.
    """

    built: Callable[[], list[int]]
    open: Callable[[int], AtlasView]


@dataclass
class Atlases:
    """The session's atlas and the other built rounds' the atlas page may show (``?round=R``).

    Attributes:
        view: The session's atlas (the round the server was started on).
        rounds: The other built rounds; None: only ``view``'s.
    """

    view: AtlasView
    rounds: Rounds | None = None
    _views: OrderedDict[int, AtlasView] = field(default_factory=OrderedDict, init=False, repr=False)
    _views_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def built(self) -> list[int]:
        """The rounds the page may switch to: every built one, the session's own included."""
        built = set(self.rounds.built()) if self.rounds is not None else set()
        return sorted(built | {self.view.round})

    def view_of(self, round_: int | None) -> AtlasView:
        """The atlas of round ``round_``: the session's own (:attr:`view`) for None or its round; another built
        round's is opened on first use and kept while it is among the latest few asked for.

        Raises:
            UnknownRoundError: That round's atlas is not built, or this server shows only its own round.
        """
        if round_ is None or round_ == self.view.round:
            return self.view
        if self.rounds is None or round_ not in self.rounds.built():
            raise UnknownRoundError(f"no atlas for round {round_} here: the rounds to look at are "
                                    f"{', '.join(map(str, self.built()))} (the page's round menu)")
        with self._views_lock:  # one opening per round, however many requests ask at once
            if round_ not in self._views:
                self._views[round_] = self.rounds.open(round_)
                while len(self._views) > OTHER_VIEWS_KEPT:
                    self._views.popitem(last=False)
            self._views.move_to_end(round_)
            return self._views[round_]


@dataclass(frozen=True)
class Editor:
    """The round's network opened at its atlas layer, to read a drawing's activations there and edit them.

    Attributes:
        runner: The network traced to its atlas layer: runs a drawing to it, and on from it.
        surgeon: Reads and edits the round's named concepts; None: the round has none.
        round: The round (a message about its missing concepts names it).
    """

    runner: LayerRunner
    surgeon: Surgeon | None
    round: int


class CoachHost:
    """The round's drawing coach, built on a thread of its own when the app starts, and what is made of its
    network once: the :class:`Editor` and the dream's copy of the network.

    Args:
        factory: Builds the coach (loads the model, reads or builds the canon); None: the app has no coach.
    """

    def __init__(self, factory: Callable[[], Coach] | None) -> None:
        self.factory = factory
        self._lock = threading.Lock()
        self._coach: Coach | None = None
        self._editor: Editor | None = None
        self._dream_net: torch.nn.Module | None = None
        self._started: float | None = None  # when the build began
        self._ready: float | None = None  # when it was done
        self._error: str | None = None  # why it could not be built
        self._build: StoppableThread | None = None  # the thread building it

    def start(self) -> None:
        """Build the coach now, on a thread of its own, so that the first drawing does not wait for the model and
        its canon (seconds to a minute); :meth:`status` says how far it is, :meth:`stop` stops it."""
        if self.factory is None or self._started is not None:
            return
        self._started = time.monotonic()

        def build() -> None:
            try:
                self.coach()
            except Exception as err:  # noqa: BLE001 - reported by status; a request raises it again
                self._error = self._error or f"{type(err).__name__}: {err}"

        self._build = StoppableThread(build, name="articulate-coach")
        self._build.start()

    def stop(self) -> None:
        """Stop the coach's build at its next safe point (between two batches) and wait for it: a process that
        exits while the build is inside torch aborts. The app's shutdown calls it (the process's exit too)."""
        if self._build is not None:
            self._build.stop()

    def status(self) -> dict[str, Any]:
        """How the coach's build goes: ``{"state": "none" | "preparing" | "ready" | "failed", "seconds",
        "message"}`` (``GET /api/coach/status``; the drawing page shows it until the coach is ready)."""
        if self.factory is None:
            return {"state": "none", "seconds": 0.0, "message": "this server has no drawing coach"}
        started = self._started if self._started is not None else time.monotonic()
        if self._coach is not None:
            return {"state": "ready", "seconds": round((self._ready or started) - started, 1),
                    "message": "the coach is ready"}
        if self._error is not None:
            return {"state": "failed", "seconds": 0.0, "message": self._error}
        seconds = round(time.monotonic() - started, 1)
        return {"state": "preparing", "seconds": seconds,
                "message": f"preparing the coach: loading the round's model and its canon of complete drawings "
                           f"({seconds:.0f} s; the first start of a round builds the canon, later ones read it)"}

    def coach(self) -> Coach:
        """The round's coach, built on first use (a first build of the canon takes seconds; later ones read it).

        Raises:
            CoachUnavailable: The app was started without one, or it cannot be built (the message says why).
        """
        if self.factory is None:
            raise CoachUnavailable("this server has no drawing coach (start it with `articulate label`)")
        with self._lock:
            if self._coach is None:
                try:
                    self._coach = self.factory()
                except ArticulateError as err:
                    self._error = f"the drawing coach cannot start: {err}"
                    raise CoachUnavailable(self._error) from None
                self._ready = time.monotonic()
            return self._coach

    def editor(self) -> Editor:
        """The round's :class:`Editor`, made once: tracing a large network takes a good part of a second.

        Raises:
            CoachUnavailable: As :meth:`coach`.
        """
        coach = self.coach()
        with self._lock:
            if self._editor is None:
                model = coach.scorer.model
                surgeon = Surgeon(model, threshold=coach.scorer.threshold) if model.concept_head is not None else None
                runner = surgeon.runner if surgeon else LayerRunner(model.net, model.layer)
                self._editor = Editor(runner, surgeon, coach.round)
            return self._editor

    def dream_net(self) -> torch.nn.Module:
        """A copy of the round's network for dreaming: a dream hooks its layers for seconds, and the scoring of
        drawings must neither see those hooks nor wait for them.

        Raises:
            CoachUnavailable: As :meth:`coach`.
        """
        coach = self.coach()
        with self._lock:
            if self._dream_net is None:
                self._dream_net = copy.deepcopy(coach.scorer.model.net).eval()
            return self._dream_net


def provide(state: State, *, atlases: Atlases, store: ConceptStore, settings: AppSettings,
            coaching: CoachHost) -> None:
    """Put one labeling session's resources on the app, where the dependencies below find them.

    Args:
        state: The app's ``app.state``.
        atlases: The session's atlas and the other rounds'.
        store: The concept store the page edits.
        settings: Token, limits, split default, actor.
        coaching: The round's coach and what is made of its network.
    """
    state.atlases, state.store, state.settings, state.coaching = atlases, store, settings, coaching
    state.write_lock = threading.Lock()  # one write at a time in this process (the store's file lock: others)
    # The model's forward hooks are per call on one shared network: one drawing scored at a time.
    state.score_lock = threading.Lock()
    state.jobs = Jobs()
    state.probes = ProbeCache()  # the review's and the suggestions'


# The resources themselves: no waiting (async: no thread of the pool for a lookup).

async def get_settings(request: Request) -> AppSettings:
    return request.app.state.settings


async def get_store(request: Request) -> ConceptStore:
    return request.app.state.store


async def get_write_lock(request: Request) -> threading.Lock:
    return request.app.state.write_lock


async def get_score_lock(request: Request) -> threading.Lock:
    return request.app.state.score_lock


async def get_jobs(request: Request) -> Jobs:
    return request.app.state.jobs


async def get_probes(request: Request) -> ProbeCache:
    return request.app.state.probes


async def get_atlases(request: Request) -> Atlases:
    return request.app.state.atlases


async def get_coaching(request: Request) -> CoachHost:
    return request.app.state.coaching


SettingsDep = Annotated[AppSettings, Depends(get_settings)]
StoreDep = Annotated[ConceptStore, Depends(get_store)]
WriteLockDep = Annotated[threading.Lock, Depends(get_write_lock)]
ScoreLockDep = Annotated[threading.Lock, Depends(get_score_lock)]
JobsDep = Annotated[Jobs, Depends(get_jobs)]
ProbesDep = Annotated[ProbeCache, Depends(get_probes)]
AtlasesDep = Annotated[Atlases, Depends(get_atlases)]
CoachingDep = Annotated[CoachHost, Depends(get_coaching)]


async def get_session_view(atlases: AtlasesDep) -> AtlasView:
    """The session's own atlas (the drawing and sketch pages', whatever round the atlas page shows)."""
    return atlases.view


def get_view(atlases: AtlasesDep, round: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,  # noqa: A002
             layer: Annotated[str | None, Query(min_length=1, max_length=300)] = None) -> AtlasView:
    """The atlas a request of the atlas page is about: ``?round=R`` (the page's round switch), else the session's;
    ``?layer=L`` (the page's layer switch): that round's atlas of another of its layers, else its atlas layer's."""
    return atlases.view_of(round).at_layer(layer)


SessionViewDep = Annotated[AtlasView, Depends(get_session_view)]
ViewDep = Annotated[AtlasView, Depends(get_view)]


async def get_selections(view: ViewDep) -> Selections:
    """The selections of the atlas a request is about."""
    return Selections(view)


SelectionsDep = Annotated[Selections, Depends(get_selections)]


# What the coach makes: waits for its build (sync: on the thread pool).

def get_coach(coaching: CoachingDep) -> Coach:
    """The round's coach (waits for its build).

    Raises:
        CoachUnavailable: No coach, or it could not be built.
    """
    return coaching.coach()


def get_editor(coaching: CoachingDep) -> Editor:
    """The round's editor (waits for the coach's build)."""
    return coaching.editor()


def get_dream_net(coaching: CoachingDep) -> torch.nn.Module:
    """The dream's copy of the round's network (waits for the coach's build)."""
    return coaching.dream_net()


CoachDep = Annotated[Coach, Depends(get_coach)]
EditorDep = Annotated[Editor, Depends(get_editor)]
DreamNetDep = Annotated[torch.nn.Module, Depends(get_dream_net)]

_query_token = APIKeyQuery(name="token", auto_error=False)
_cookie_token = APIKeyCookie(name=TOKEN_COOKIE, auto_error=False)
_bearer_token = HTTPBearer(auto_error=False)


def require_token(request: Request, settings: SettingsDep, query: Annotated[str | None, Depends(_query_token)],
                  cookie: Annotated[str | None, Depends(_cookie_token)],
                  bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_token)]) -> None:
    """Let a request through when the server has no token, the request offers it (query, cookie or bearer), or
    it asks for the page's own scripts and styles (``/static/``: public, as docs/reference/http-api.md says; they hold
    nothing of the data).

    Raises:
        HTTPException: 401, saying how to send the token.
    """
    token = settings.token
    if not token or request.url.path.startswith("/static/"):
        return
    offered = [query, cookie, bearer.credentials if bearer else None]
    if not any(t is not None and secrets.compare_digest(t, token) for t in offered):
        raise HTTPException(status_code=401, detail=TOKEN_NEEDED)

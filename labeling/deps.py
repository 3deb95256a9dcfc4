"""What a route of the labeling app needs, as FastAPI dependencies: the atlas view, the concept store, the
settings, the write lock, and the access token.

The app keeps one :class:`Room` (``app.state.room``); routes ask for its parts with ``Depends`` rather than
closing over them, so each router is a module of its own and a test can build an app around any view and store.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import APIKeyCookie, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from conceptstore.store import ConceptStore
from labeling.atlas_view import AtlasView
from labeling.jobs import Jobs
from labeling.preview import ProbeCache
from labeling.settings import AppSettings
from pipeline.coach.runtime import StoppableThread
from core.errors import ArticulateError

if TYPE_CHECKING:
    from pipeline.coach.coach import Coach

__all__ = ["TOKEN_COOKIE", "CoachUnavailable", "Room", "RoomDep", "Rounds", "UnknownRoundError", "ViewDep",
           "require_token"]

TOKEN_COOKIE = "articulate_token"
TOKEN_NEEDED = ("this server needs its access token: open the address it printed (with ?token=...) or send "
                "'Authorization: Bearer <token>'")


#: Other rounds' atlases kept open at once besides the session's (each holds its points and activation cache).
OTHER_VIEWS_KEPT = 2


class UnknownRoundError(ArticulateError):
    """A round whose atlas is not built (or a server that shows only its own round)."""

    status_code = 404


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
class Room:
    """One labeling session's state: the atlas shown, the store edited, how the server runs.

    Attributes:
        view: The round's atlas.
        store: The concept store the page edits.
        settings: Token, limits, split default, actor.
        write_lock: One write at a time in this process (the store's file lock guards other processes).
        coach_factory: Builds the round's drawing coach (loads the model, reads or builds the canon); None: the
            app has no coach.
        rounds: The other built rounds the atlas page may show (``?round=R``); None: only ``view``'s.
    """

    view: AtlasView
    store: ConceptStore
    settings: AppSettings
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    coach_factory: Callable[[], Coach] | None = None
    rounds: Rounds | None = None
    _views: OrderedDict[int, AtlasView] = field(default_factory=OrderedDict, init=False, repr=False)
    _views_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _coach: Coach | None = field(default=None, init=False, repr=False)
    _coach_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    # The model's forward hooks are per call on one shared network: one drawing scored at a time.
    score_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    jobs: Jobs = field(default_factory=Jobs, init=False, repr=False)
    probes: ProbeCache = field(default_factory=ProbeCache, init=False, repr=False)  # the review's and suggestions'
    _dream_net: Any = field(default=None, init=False, repr=False)
    _editor: Any = field(default=None, init=False, repr=False)
    network_hash: str | None = field(default=None, init=False, repr=False)  # names cached pictures of the network
    _coach_started: float | None = field(default=None, init=False, repr=False)  # when the coach's build began
    _coach_ready: float | None = field(default=None, init=False, repr=False)  # when it was done
    _coach_error: str | None = field(default=None, init=False, repr=False)  # why it could not be built
    _coach_build: StoppableThread | None = field(default=None, init=False, repr=False)  # the thread building it

    def built_rounds(self) -> list[int]:
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
                                    f"{', '.join(map(str, self.built_rounds()))} (the page's round menu)")
        with self._views_lock:  # one opening per round, however many requests ask at once
            if round_ not in self._views:
                self._views[round_] = self.rounds.open(round_)
                while len(self._views) > OTHER_VIEWS_KEPT:
                    self._views.popitem(last=False)
            self._views.move_to_end(round_)
            return self._views[round_]

    def start_coach(self) -> None:
        """Build the coach now, on a thread of its own, so that the first drawing does not wait for the model and
        its canon (seconds to a minute); :meth:`coach_status` says how far it is, :meth:`stop_coach` stops it."""
        if self.coach_factory is None or self._coach_started is not None:
            return
        self._coach_started = time.monotonic()

        def build() -> None:
            try:
                self.coach()
            except Exception as err:  # noqa: BLE001 - reported by coach_status; a request raises it again
                self._coach_error = self._coach_error or f"{type(err).__name__}: {err}"

        self._coach_build = StoppableThread(build, name="articulate-coach")
        self._coach_build.start()

    def stop_coach(self) -> None:
        """Stop the coach's build at its next safe point (between two batches) and wait for it: a process that
        exits while the build is inside torch aborts. The app's shutdown calls it (the process's exit too)."""
        if self._coach_build is not None:
            self._coach_build.stop()

    def coach_status(self) -> dict[str, Any]:
        """How the coach's build goes: ``{"state": "none" | "preparing" | "ready" | "failed", "seconds",
        "message"}`` (``GET /api/coach/status``; the drawing page shows it until the coach is ready)."""
        if self.coach_factory is None:
            return {"state": "none", "seconds": 0.0, "message": "this server has no drawing coach"}
        started = self._coach_started if self._coach_started is not None else time.monotonic()
        if self._coach is not None:
            return {"state": "ready", "seconds": round((self._coach_ready or started) - started, 1),
                    "message": "the coach is ready"}
        if self._coach_error is not None:
            return {"state": "failed", "seconds": 0.0, "message": self._coach_error}
        seconds = round(time.monotonic() - started, 1)
        return {"state": "preparing", "seconds": seconds,
                "message": f"preparing the coach: loading the round's model and its canon of complete drawings "
                           f"({seconds:.0f} s; the first start of a round builds the canon, later ones read it)"}

    def editor(self) -> tuple[Any, Any]:
        """The round's network traced to its atlas layer (a :class:`~pipeline.editing.runner.LayerRunner`), and its
        :class:`~pipeline.editing.surgery.Surgeon` when the round has concepts (else None); made once, since
        tracing a large network takes a good part of a second."""
        from pipeline.editing.runner import LayerRunner
        from pipeline.editing.surgery import Surgeon

        coach = self.coach()
        with self._coach_lock:
            if self._editor is None:
                model = coach.scorer.model
                surgeon = Surgeon(model, threshold=coach.scorer.threshold) if model.concept_head is not None else None
                self._editor = (surgeon.runner if surgeon else LayerRunner(model.net, model.layer), surgeon)
            return self._editor

    def dream_net(self) -> Any:
        """A copy of the round's network for dreaming: a dream hooks its layers for seconds, and the scoring of
        drawings must neither see those hooks nor wait for them."""
        import copy

        coach = self.coach()
        with self._coach_lock:
            if self._dream_net is None:
                self._dream_net = copy.deepcopy(coach.scorer.model.net).eval()
            return self._dream_net

    def coach(self) -> Coach:
        """The round's coach, built on first use (a first build of the canon takes seconds; later ones read it).

        Raises:
            CoachUnavailable: The app was started without one, or it cannot be built (the message says why).
        """
        if self.coach_factory is None:
            raise CoachUnavailable("this server has no drawing coach (start it with `articulate label`)")
        with self._coach_lock:
            if self._coach is None:
                try:
                    self._coach = self.coach_factory()
                except ArticulateError as err:
                    self._coach_error = f"the drawing coach cannot start: {err}"
                    raise CoachUnavailable(self._coach_error) from None
                self._coach_ready = time.monotonic()
            return self._coach


class CoachUnavailable(ArticulateError):
    """The app has no drawing coach, or it could not be built."""

    status_code = 503


def get_room(request: Request) -> Room:
    return request.app.state.room


RoomDep = Annotated[Room, Depends(get_room)]


def get_view(room: RoomDep, round: Annotated[int | None, Query(ge=0, le=1_000_000)] = None) -> AtlasView:  # noqa: A002
    """The atlas a request of the atlas page is about: ``?round=R`` (the page's round switch), else the session's."""
    return room.view_of(round)


ViewDep = Annotated[AtlasView, Depends(get_view)]

_query_token = APIKeyQuery(name="token", auto_error=False)
_cookie_token = APIKeyCookie(name=TOKEN_COOKIE, auto_error=False)
_bearer_token = HTTPBearer(auto_error=False)


def require_token(request: Request, room: RoomDep, query: Annotated[str | None, Depends(_query_token)],
                  cookie: Annotated[str | None, Depends(_cookie_token)],
                  bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_token)]) -> None:
    """Let a request through when the server has no token, the request offers it (query, cookie or bearer), or
    it asks for the page's own scripts and styles (``/static/``: public, as docs/reference/http-api.md says; they hold
    nothing of the data).

    Raises:
        HTTPException: 401, saying how to send the token.
    """
    token = room.settings.token
    if not token or request.url.path.startswith("/static/"):
        return
    offered = [query, cookie, bearer.credentials if bearer else None]
    if not any(t is not None and secrets.compare_digest(t, token) for t in offered):
        raise HTTPException(status_code=401, detail=TOKEN_NEEDED)

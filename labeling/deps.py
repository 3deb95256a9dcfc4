"""What a route of the labeling app needs, as FastAPI dependencies: the atlas view, the concept store, the
settings, the write lock, and the access token.

The app keeps one :class:`Room` (``app.state.room``); routes ask for its parts with ``Depends`` rather than
closing over them, so each router is a module of its own and a test can build an app around any view and store.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyCookie, APIKeyQuery, HTTPAuthorizationCredentials, HTTPBearer

from conceptstore.store import ConceptStore
from labeling.atlas_view import AtlasView
from labeling.jobs import Jobs
from labeling.settings import AppSettings
from pipeline.errors import ArticulateError

if TYPE_CHECKING:
    from pipeline.coach.coach import Coach

__all__ = ["TOKEN_COOKIE", "CoachUnavailable", "Room", "RoomDep", "require_token"]

TOKEN_COOKIE = "articulate_token"
TOKEN_NEEDED = ("this server needs its access token: open the address it printed (with ?token=...) or send "
                "'Authorization: Bearer <token>'")


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
    """

    view: AtlasView
    store: ConceptStore
    settings: AppSettings
    write_lock: threading.Lock = field(default_factory=threading.Lock)
    coach_factory: Callable[[], Coach] | None = None
    _coach: Coach | None = field(default=None, init=False, repr=False)
    _coach_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    # The model's forward hooks are per call on one shared network: one drawing scored at a time.
    score_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    jobs: Jobs = field(default_factory=Jobs, init=False, repr=False)
    _dream_net: Any = field(default=None, init=False, repr=False)
    _editor: Any = field(default=None, init=False, repr=False)
    network_hash: str | None = field(default=None, init=False, repr=False)  # names cached pictures of the network

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
                    raise CoachUnavailable(f"the drawing coach cannot start: {err}") from None
            return self._coach


class CoachUnavailable(ArticulateError):
    """The app has no drawing coach, or it could not be built."""

    status_code = 503


def get_room(request: Request) -> Room:
    return request.app.state.room


RoomDep = Annotated[Room, Depends(get_room)]

_query_token = APIKeyQuery(name="token", auto_error=False)
_cookie_token = APIKeyCookie(name=TOKEN_COOKIE, auto_error=False)
_bearer_token = HTTPBearer(auto_error=False)


def require_token(room: RoomDep, query: Annotated[str | None, Depends(_query_token)],
                  cookie: Annotated[str | None, Depends(_cookie_token)],
                  bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer_token)]) -> None:
    """Let a request through when the server has no token, or the request offers it (query, cookie or bearer).

    Raises:
        HTTPException: 401, saying how to send the token.
    """
    token = room.settings.token
    if not token:
        return
    offered = [query, cookie, bearer.credentials if bearer else None]
    if not any(t is not None and secrets.compare_digest(t, token) for t in offered):
        raise HTTPException(status_code=401, detail=TOKEN_NEEDED)

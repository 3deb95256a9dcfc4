"""How the labeling server runs: its address, token, limits, and the host names it answers to."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from typing import Any, ClassVar

from omegaconf import DictConfig

from labeling.preview import ProbeSettings
from labeling.review import ReviewSettings
from labeling.suggestions import SuggestionSettings
from core.errors import ArticulateError, ConfigError
from pipeline.schema import Conf, configured

__all__ = ["LOOPBACK_NAMES", "AppSettings", "LimitError", "RequestLimits", "Timeouts", "allowed_hosts", "app_settings",
           "is_loopback"]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # bound to every interface: any name may reach it (the token guards)


class LimitError(ArticulateError):
    """A request asks for more than ``labeling.limits`` allows (the message names the field and its range)."""

    status_code = 400


@dataclass(frozen=True)
class Timeouts:
    """How long the server waits for a slow client (``labeling.timeouts``): seconds for the headers, for the
    body, and between requests on an open connection; the most bytes of a request line and its headers."""

    CONF: ClassVar[Conf] = Conf("labeling.timeouts")

    header_s: float
    body_s: float
    keep_alive_s: float
    max_header_bytes: int

    def __post_init__(self) -> None:
        for name in ("header_s", "body_s", "keep_alive_s"):
            if not 0 < getattr(self, name) <= 3600:
                raise ConfigError(f"labeling.timeouts.{name}: expected seconds in (0, 3600], got {getattr(self, name)}")
        if self.max_header_bytes < 1024:
            raise ConfigError(f"labeling.timeouts.max_header_bytes: expected at least 1024, got "
                              f"{self.max_header_bytes}")


@dataclass(frozen=True)
class RequestLimits:
    """What one request may ask for (``labeling.limits``); the pages read them from ``GET /api/limits``.

    Args:
        edits: Edits in one stack.
        factor: The largest ``|factor|`` of an edit.
        dream_octaves: Octaves of a dream (the round's model may allow fewer: :meth:`ranges`).
        dream_steps: Gradient steps per octave of a dream.
        visualize_steps_min: Fewest steps of a feature visualization.
        visualize_steps_max: Most steps of a feature visualization.
    """

    CONF: ClassVar[Conf] = Conf("labeling.limits")

    edits: int
    factor: float
    dream_octaves: int
    dream_steps: int
    visualize_steps_min: int
    visualize_steps_max: int

    def __post_init__(self) -> None:
        if min(self.edits, self.dream_octaves, self.dream_steps, self.visualize_steps_min) < 1 or self.factor <= 0:
            raise ConfigError(f"labeling.limits: every limit must be at least 1 (factor above 0), got {self}")
        if self.visualize_steps_max < self.visualize_steps_min:
            raise ConfigError("labeling.limits.visualize_steps_max: expected at least visualize_steps_min")

    def ranges(self, most_octaves: int | None = None) -> dict[str, dict[str, float]]:
        """Each limited field's range, ``{"min", "max"}`` (what ``GET /api/limits`` answers).

        Args:
            most_octaves: The most octaves the round's model input has room for (None: not known).
        """
        octaves = self.dream_octaves if most_octaves is None else max(1, min(self.dream_octaves, most_octaves))
        return {"edits": {"min": 1, "max": self.edits}, "factor": {"min": -self.factor, "max": self.factor},
                "dream_octaves": {"min": 1, "max": octaves}, "dream_steps": {"min": 1, "max": self.dream_steps},
                "visualize_steps": {"min": self.visualize_steps_min, "max": self.visualize_steps_max}}

    @staticmethod
    def check(value: float, span: dict[str, float], what: str) -> None:
        """Raise :class:`LimitError` unless ``span["min"] <= value <= span["max"]``."""
        if not span["min"] <= value <= span["max"]:
            raise LimitError(f"{what}: {value:g} is outside {span['min']:g}..{span['max']:g} (labeling.limits; "
                             "GET /api/limits answers them)")


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
        coach_throttle_ms: The drawing page's feedback during a stroke, at most every this many milliseconds.
        cache_dir: Where pictures made on demand are kept (feature visualizations; ``paths.cache``); None: not
            kept.
        evaluation_dir: The rounds' evaluations (``paths.evaluation``), read for the concepts' reliance; None:
            not shown.
        min_token_length: A shorter token is refused.
        timeouts: How long the server waits for a slow client.
        limits: What one request may ask for.
        preview: How a concept's preview probe is fitted and shown.
        review: What the review queue lists.
        suggestions: What the page suggests looking at next.

    Raises:
        ConfigError: A value out of range, a non-loopback host without a token, or a token that is too short or
            not printable ASCII.
    """

    CONF: ClassVar[Conf] = Conf("labeling", coach_throttle_ms="coach.throttle_ms", cache_dir="paths.cache",
                                evaluation_dir="paths.evaluation")

    host: str
    port: int
    token: str | None
    max_request_bytes: int
    split_k: int
    coach_throttle_ms: int
    cache_dir: str | None
    evaluation_dir: str | None
    min_token_length: int
    timeouts: Timeouts
    limits: RequestLimits
    preview: ProbeSettings
    review: ReviewSettings
    suggestions: SuggestionSettings
    actor: str = "web"  # not a setting: who the app's changes are recorded as

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"labeling.port: expected 0..65535, got {self.port}")
        if self.max_request_bytes < 1024:
            raise ConfigError(f"labeling.max_request_bytes: expected at least 1024, got {self.max_request_bytes}")
        if not 0 <= self.coach_throttle_ms <= 10_000:
            raise ConfigError(f"coach.throttle_ms: expected 0..10000, got {self.coach_throttle_ms}")
        if self.split_k < 2:
            raise ConfigError(f"labeling.split_k: expected at least 2, got {self.split_k}")
        if self.token is not None and (len(self.token) < self.min_token_length or not self.token.isascii()
                                       or not self.token.isprintable() or " " in self.token):
            raise ConfigError(f"labeling.token: a token of {len(self.token)} characters is too easy to guess: give "
                              f"at least {self.min_token_length} printable ASCII characters without spaces (or "
                              "leave it null: `articulate label` makes a random one)")
        if not is_loopback(self.host) and not self.token:
            raise ConfigError(f"labeling.host={self.host} is not loopback: set labeling.token (or leave it null "
                              "with `articulate label`, which then makes one and prints it)")


def app_settings(cfg: DictConfig, **changes: Any) -> AppSettings:
    """The app's settings from the composed configuration (``labeling``, ``coach.throttle_ms``, ``paths``).

    Args:
        cfg: The composed configuration.
        **changes: Settings given on the command line; those not None win.

    Returns:
        The settings; a non-loopback host without a token gets a new random one.
    """
    given = {key: value for key, value in changes.items() if value is not None}
    host, token = given.get("host", cfg.labeling.host), given.get("token", cfg.labeling.token)
    if not is_loopback(host) and not token:
        given["token"] = secrets.token_urlsafe(max(24, cfg.labeling.min_token_length))
    return configured(AppSettings, cfg, **given)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1 or localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str) -> frozenset[str] | None:
    """The names a server bound to ``host`` answers to: loopback's and ``host``; None (any) on every interface."""
    if host in WILDCARD_HOSTS:
        return None
    return frozenset({*LOOPBACK_NAMES, host.strip("[]").lower()})

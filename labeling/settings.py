"""How the labeling server runs: its address, token, limits, and the host names it answers to."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig

from labeling.preview import ProbeSettings
from labeling.review import ReviewSettings
from labeling.suggestions import SuggestionSettings
from core.errors import ArticulateError, ConfigError

__all__ = ["LOOPBACK_NAMES", "AppSettings", "LimitError", "RequestLimits", "Timeouts", "allowed_hosts", "conf_default",
           "is_loopback"]

#: The labeling group's settings as conf/ declares them, for an app or an artist made without a composed config.
LABELING_CONF = Path(__file__).resolve().parents[1] / "conf" / "labeling" / "default.yaml"


@cache
def _labeling_conf() -> dict[str, Any]:
    return yaml.safe_load(LABELING_CONF.read_text(encoding="utf-8"))


def conf_default(key: str) -> dict[str, Any]:
    """One node of ``conf/labeling/default.yaml`` as it stands (``review``, ``suggestions``): the defaults of an
    app or a simulated artist made without a composed config (a test's, an embedding program's), so that conf/
    stays their one source."""
    return dict(_labeling_conf()[key])

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # bound to every interface: any name may reach it (the token guards)


class LimitError(ArticulateError):
    """A request asks for more than ``labeling.limits`` allows (the message names the field and its range)."""

    status_code = 400


@dataclass(frozen=True)
class Timeouts:
    """How long the server waits for a slow client (``labeling.timeouts``): seconds for the headers, for the
    body, and between requests on an open connection; the most bytes of a request line and its headers."""

    header_s: float = 10.0
    body_s: float = 30.0
    keep_alive_s: float = 5.0
    max_header_bytes: int = 65536

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

    edits: int = 64
    factor: float = 100.0
    dream_octaves: int = 5
    dream_steps: int = 100
    visualize_steps_min: int = 16
    visualize_steps_max: int = 512

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
        review: What the review queue lists (default: conf/'s).
        suggestions: What the page suggests looking at next (default: conf/'s).

    Raises:
        ConfigError: A value out of range, a non-loopback host without a token, or a token that is too short or
            not printable ASCII.
    """

    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    max_request_bytes: int = 1_000_000
    split_k: int = 2
    actor: str = "web"
    coach_throttle_ms: int = 120
    cache_dir: str | None = None
    evaluation_dir: str | None = None
    min_token_length: int = 16
    timeouts: Timeouts = Timeouts()
    limits: RequestLimits = RequestLimits()
    preview: ProbeSettings = ProbeSettings()
    review: ReviewSettings = field(default_factory=lambda: ReviewSettings(**conf_default("review")))
    suggestions: SuggestionSettings = field(default_factory=lambda: SuggestionSettings(**conf_default("suggestions")))

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

    @classmethod
    def from_config(cls, cfg: DictConfig, **changes: Any) -> AppSettings:
        """From the ``labeling`` config group; ``changes`` (not None) win; a non-loopback host gets a new token."""
        node = cfg.labeling
        values = dict(host=str(node.host), port=int(node.port), token=node.token, split_k=int(node.split_k),
                      max_request_bytes=int(node.max_request_bytes), coach_throttle_ms=int(cfg.coach.throttle_ms),
                      cache_dir=str(cfg.paths.cache), evaluation_dir=str(cfg.paths.evaluation),
                      min_token_length=int(node.min_token_length), timeouts=Timeouts(**node.timeouts),
                      limits=RequestLimits(**node.limits), preview=ProbeSettings(**node.preview),
                      review=ReviewSettings(**node.review), suggestions=SuggestionSettings(**node.suggestions))
        values.update({k: v for k, v in changes.items() if v is not None})
        if not is_loopback(values["host"]) and not values["token"]:
            values["token"] = secrets.token_urlsafe(max(24, values["min_token_length"]))
        return cls(**values)


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

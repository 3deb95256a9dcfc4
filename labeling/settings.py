"""How the labeling server runs: its address, token, limits, and the host names it answers to."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig

from pipeline.errors import ConfigError

__all__ = ["LOOPBACK_NAMES", "AppSettings", "allowed_hosts", "is_loopback"]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")  # bound to every interface: any name may reach it (the token guards)


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

    Raises:
        ConfigError: A value out of range, or a non-loopback host without a token.
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

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"labeling.port: expected 0..65535, got {self.port}")
        if self.max_request_bytes < 1024:
            raise ConfigError(f"labeling.max_request_bytes: expected at least 1024, got {self.max_request_bytes}")
        if not 0 <= self.coach_throttle_ms <= 10_000:
            raise ConfigError(f"coach.throttle_ms: expected 0..10000, got {self.coach_throttle_ms}")
        if self.split_k < 2:
            raise ConfigError(f"labeling.split_k: expected at least 2, got {self.split_k}")
        if not is_loopback(self.host) and not self.token:
            raise ConfigError(f"labeling.host={self.host} is not loopback: set labeling.token (or leave it null "
                              "with `articulate label`, which then makes one and prints it)")

    @classmethod
    def from_config(cls, cfg: DictConfig, **changes: Any) -> AppSettings:
        """From the ``labeling`` config group; ``changes`` (not None) win; a non-loopback host gets a new token."""
        node = cfg.labeling
        values = dict(host=str(node.host), port=int(node.port), token=node.token, split_k=int(node.split_k),
                      max_request_bytes=int(node.max_request_bytes), coach_throttle_ms=int(cfg.coach.throttle_ms),
                      cache_dir=str(cfg.paths.cache), evaluation_dir=str(cfg.paths.evaluation))
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


def allowed_hosts(host: str) -> frozenset[str] | None:
    """The names a server bound to ``host`` answers to: loopback's and ``host``; None (any) on every interface."""
    if host in WILDCARD_HOSTS:
        return None
    return frozenset({*LOOPBACK_NAMES, host.strip("[]").lower()})

"""Words for messages: a count with its noun in the right number, and a metric at a readable precision.

Imports nothing, so the lightest command can use it.
"""

from __future__ import annotations

__all__ = ["metric", "plural"]


def plural(count: int, one: str, many: str | None = None) -> str:
    """``count`` and the noun that goes with it: ``1 concept``, ``2 concepts``, ``0 concepts``.

    Args:
        count: How many.
        one: The singular noun.
        many: The plural noun when it is not ``one + "s"`` (e.g. ``"patches"``).
    """
    return f"{count} {one if count == 1 else many or one + 's'}"


def metric(value: float | None, digits: int = 3) -> str:
    """A metric for people to read: ``digits`` decimals (``0.412``, not ``0.41187393856048584``), ``n/a`` if None."""
    return "n/a" if value is None else f"{value:.{digits}f}"

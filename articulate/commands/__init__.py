"""Subcommands of ``articulate``, one module per family; each registers itself with ``add_commands``."""

from __future__ import annotations

from pipeline.errors import ConfigError

__all__ = ["parse_int_list"]


def parse_int_list(text: str, option: str, example: str = "0-3,8", *, allow_empty: bool = False) -> list[int]:
    """``"0-15"``, ``"0,3,7"`` or a mix (``"0-3,8"``) as a list of non-negative integers.

    Args:
        text: The option's value.
        option: The option, for the error message (``--channels``).
        example: A valid value to show in the error message.
        allow_empty: An empty value is an empty list (otherwise an error).

    Returns:
        The numbers in the order given, without repeats.

    Raises:
        ConfigError: Not a comma-separated list of numbers and ascending ranges, or a negative number.
    """
    numbers: list[int] = []
    for piece in filter(None, (t.strip() for t in text.split(","))):
        try:
            if "-" in piece[1:]:
                low, high = (int(v) for v in piece.split("-", 1))
                if high < low:
                    raise ValueError(piece)
                numbers.extend(range(low, high + 1))
            else:
                numbers.append(int(piece))
        except ValueError:
            raise ConfigError(f"{option}: expected numbers and ranges like {example}, got {piece!r}") from None
    if not numbers and not allow_empty:
        raise ConfigError(f"{option}: expected numbers and ranges like {example}, got {text!r}")
    if any(n < 0 for n in numbers):
        raise ConfigError(f"{option}: expected numbers >= 0, got {text!r}")
    return list(dict.fromkeys(numbers))

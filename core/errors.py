"""User-facing errors.

Every mistake a user can make (a malformed file, an unknown config key, a missing checkpoint) is raised as
an :class:`ArticulateError`. The command-line entry points print its message, with no traceback, and exit
with status 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from os import PathLike


class ArticulateError(Exception):
    """An error caused by the user's input or setup, with a message that says what to do.

    Attributes:
        status_code: The HTTP status the labeling app answers it with (400: a bad request; subclasses say
            404, 409 or 503 where that is what happened).
    """

    status_code: int = 400


class InputError(ArticulateError):
    """Bad input data: names the file, the line (1-based) where there is one, what is wrong and what to do.

    Args:
        path: The file (or folder) the problem is in.
        problem: What is wrong, in a few words.
        line: The 1-based line number, for line-oriented files.
        hint: What the user can do about it.
    """

    def __init__(
        self,
        path: str | PathLike[str],
        problem: str,
        line: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.path = str(path)
        self.problem = problem
        self.line = line
        self.hint = hint
        where = f"{self.path}:{line}" if line is not None else self.path
        message = f"{where}: {problem}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)


class ConfigError(ArticulateError):
    """A bad setting: names the config key and what to do."""


class UnknownLayerError(ArticulateError, KeyError):
    """A layer path that does not name a module of the model; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0])

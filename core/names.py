"""Names a person types or a file brings in, checked one way: concept names (the page, the command line) and the
class and part names of a dataset's files.

A name is shown wherever the project shows what a model learned, so it must read as it is stored: it is
normalised to NFC (``é`` typed as ``e`` plus an accent is the same name as ``é``), and characters that are not
seen, or that change how the text around them is shown, are refused: control characters, line and paragraph
separators, format characters (zero-width spaces and joiners, right-to-left overrides and isolates, soft
hyphens) and lone surrogates (half of a character, not text at all). A class or part name is also a file name
and a word in a page: it holds letters, digits, spaces and a few punctuation marks only.
"""

from __future__ import annotations

import unicodedata

__all__ = ["MAX_NAME_LENGTH", "NameProblem", "check_class_name", "check_name", "unencodable"]

MAX_NAME_LENGTH = 80
#: Punctuation a class or part name may hold besides letters, digits and spaces ("t-shirt", "The Mona Lisa").
CLASS_NAME_MARKS = frozenset("-_.,'()&+")


class NameProblem(ValueError):
    """A name that cannot be used; the message says which character and why, in words a person acts on."""


def unencodable(text: str) -> str | None:
    """The first lone surrogate of ``text`` (it has no UTF-8 form: the text was mis-decoded), or None."""
    return next((ch for ch in text if 0xD800 <= ord(ch) <= 0xDFFF), None)


def _describe(ch: str) -> str:
    """``U+202E (RIGHT-TO-LEFT OVERRIDE)``: a character a message cannot show as itself."""
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" ({name})" if name else "")


def check_name(value: object, *, what: str = "the name", max_length: int = MAX_NAME_LENGTH) -> str:
    """A name normalised to NFC and stripped, if it is one line of visible text.

    Args:
        value: The proposed name.
        what: How messages call it ("the name", "class name").
        max_length: The most characters it may have (after normalising).

    Returns:
        The name, NFC, without leading and trailing whitespace.

    Raises:
        NameProblem: Not text, empty, too long, or holding a character that is not shown as it is (the
            message names it by its code point).
    """
    if not isinstance(value, str):
        raise NameProblem(f"{what} must be text, got {value!r}")
    bad = unencodable(value)
    if bad is not None:
        raise NameProblem(f"{what} holds the lone surrogate U+{ord(bad):04X}, half of a character: send the text as "
                          "UTF-8")
    name = unicodedata.normalize("NFC", value).strip()
    if not name:
        raise NameProblem(f"{what} is empty: type a word or two, for example 'ear'")
    if len(name) > max_length:
        raise NameProblem(f"{what} is {len(name)} characters long; shorten it to at most {max_length}")
    for ch in name:
        category = unicodedata.category(ch)
        if category == "Cc":
            raise NameProblem(f"{what} contains the control character U+{ord(ch):04X}; a name is one line of "
                              "plain text")
        if category[0] == "C" or category in ("Zl", "Zp"):
            raise NameProblem(f"{what} contains the invisible character {_describe(ch)}, which hides or reorders "
                              "what is shown; type the name without it")
    return name


def check_class_name(value: object, *, what: str = "class name") -> str:
    """A class or part name read from a file: :func:`check_name`, and only letters, digits, spaces and
    ``- _ . , ' ( ) & +`` (a class name is also a file name and a word in a page), not starting with a dot.

    Raises:
        NameProblem: The message names the character.
    """
    name = check_name(value, what=what)
    for ch in name:
        if not (ch.isalnum() or ch == " " or unicodedata.category(ch)[0] == "M" or ch in CLASS_NAME_MARKS):
            raise NameProblem(f"{what} {name!r} contains {ch!r}: a class name holds letters, digits, spaces and "
                              f"{' '.join(sorted(CLASS_NAME_MARKS))} only")
    if name.startswith("."):
        raise NameProblem(f"{what} {name!r} starts with a dot: a class name is a word, not a path")
    return name

"""The concept model: concepts, store states, and the operations on them as pure functions (no file I/O).

A state changes only by events: an operation (``promote``, ``add``, ``rename``, ...) whose arguments are fully
resolved against the state it applies to, so that a live write and a replay of the event log compute the very
same state (:func:`apply`, :class:`Replayer`). The ``*_args`` functions check a caller's request against a
state and resolve it into those arguments. :mod:`conceptstore.store_format` writes the states and events to disk,
and :class:`conceptstore.store.ConceptStore` makes the changes durable.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import numbers
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from core.names import MAX_NAME_LENGTH, NameProblem, check_name, unencodable
from core.errors import ArticulateError

__all__ = [
    "CONCEPT_KEYS", "Change", "Concept", "ConceptError", "ConflictError", "DRAWING", "EMPTY_HASH", "EMPTY_STATE",
    "LEVELS", "Member", "OPS", "POSITION", "Position", "Replayer", "SOURCE_KINDS", "StoreBusyError", "StoreState",
    "UnknownConceptError", "add_args",
    "apply", "check_count", "check_line", "concept_from_dict", "concept_ids", "delete_args", "id_number",
    "is_index", "merge_args", "move_args", "next_round_after", "promote_args", "rename_args", "set_notes_args", "split_args",
    "validate_name",
]

Position = tuple[str, int, int]  # (sketch key_id, y, x) on the concept's layer's activation grid
#: What a concept's positives and negatives are: positions (a position-level concept) or key_ids of whole
#: drawings (a drawing-level concept: a drawing has it or not, e.g. "facing left").
Member = Position | str
POSITION, DRAWING = "position", "drawing"
LEVELS = (POSITION, DRAWING)

MAX_NOTES_LENGTH = 10_000
SOURCE_KINDS = ("cluster", "cell", "lasso", "merge", "split", "manual", "drawing")
OPS = ("promote", "add", "move", "rename", "set_notes", "merge", "split", "delete", "undo", "external_edit")
CONCEPT_KEYS = ("id", "name", "born_round", "layer", "source", "notes", "positives", "negatives")
#: Keys a concept may have besides CONCEPT_KEYS (left out of the file when empty or at their default, so older
#: files read the same).
OPTIONAL_CONCEPT_KEYS = ("verified", "level")

_ID_RE = re.compile(r"c([1-9][0-9]*)")
_ID_LIKE_RE = re.compile(r"c[0-9]+", re.IGNORECASE)


# --- errors -----------------------------------------------------------------------------------------------


class ConceptError(ArticulateError):
    """A request the concept store cannot carry out: a bad name or position, an unknown concept, nothing to undo."""


class UnknownConceptError(ConceptError):
    """No concept has this id or name; the message lists the known ones."""

    status_code = 404


class ConflictError(ConceptError):
    """The store changed since the caller read it (``expected_version`` is stale); nothing was written.

    Args:
        current_version: The store's version now.
        expected_version: The version the caller had read.
    """

    status_code = 409

    def __init__(self, current_version: int, expected_version: int) -> None:
        self.current_version = current_version
        self.expected_version = expected_version
        super().__init__(
            f"the concept store changed: it is at version {current_version}, you had {expected_version}; "
            "reload and try again"
        )


class StoreBusyError(ArticulateError):
    """Another writer held the store's lock for longer than the lock timeout; nothing was written."""

    status_code = 503


# --- values -----------------------------------------------------------------------------------------------


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) == "Cc"  # C0 (\x00-\x1f), DEL and C1 (\x7f-\x9f)


def is_index(value: object) -> bool:
    """Whether ``value`` is a whole number >= 0 (a version, a round, a grid index)."""
    # numbers.Integral admits numpy integers (positions often come from atlas arrays); bool is no number here.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0


def _key_id(key_id: object, where: str) -> str:
    """A sketch's key_id, checked: text, not empty, one line."""
    if not isinstance(key_id, str):
        raise ConceptError(f"{where}: the key_id {key_id!r} must be text (in YAML, quote it: '{key_id}')")
    if not key_id or any(_is_control(ch) for ch in key_id) or unencodable(key_id):
        raise ConceptError(f"{where}: the key_id {key_id!r} must be a sketch's key_id (not empty, one line)")
    return key_id


def _position(item: object, where: str) -> Position:
    if type(item) in (tuple, list) and len(item) == 3:  # type: ignore[arg-type]
        key_id, y, x = item  # type: ignore[misc]
        # The common case, quickly (a store holds thousands of positions); anything else is checked below.
        if type(key_id) is str and key_id.isprintable() and key_id and type(y) is int and type(x) is int:
            if min(y, x) >= 0:
                return (key_id, y, x)
    if isinstance(item, (str, bytes)) or not isinstance(item, Sequence) or len(item) != 3:
        raise ConceptError(f"{where}: expected a position [key_id, y, x], got {item!r}")
    key_id, y, x = item
    _key_id(key_id, where)
    if not (is_index(y) and is_index(x)):
        raise ConceptError(f"{where}: y and x must be whole numbers >= 0, got {y!r} and {x!r}")
    return (str(key_id), int(y), int(x))


def _positions(items: object, what: str) -> tuple[Position, ...]:
    """Validate positions and return them sorted and without repeats.

    Raises:
        ConceptError: ``items`` is not a list of ``[key_id, y, x]``.
    """
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise ConceptError(f"{what}: expected a list of positions [key_id, y, x], got {items!r}")
    return tuple(sorted({_position(item, f"{what}[{i}]") for i, item in enumerate(items)}))


def _drawings(items: object, what: str) -> tuple[str, ...]:
    """Validate the key_ids of whole drawings and return them sorted and without repeats.

    Raises:
        ConceptError: ``items`` is not a list of key_ids.
    """
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise ConceptError(f"{what}: expected a list of drawings' key_ids, got {items!r}")
    return tuple(sorted({_key_id(item, f"{what}[{i}]") for i, item in enumerate(items)}))


def _level(value: object) -> str:
    """A concept's level, checked."""
    if value not in LEVELS:
        raise ConceptError(f"level: expected {' or '.join(LEVELS)}, got {value!r}")
    return str(value)


def _members(items: object, what: str, level: str) -> tuple[Any, ...]:
    """The positives or negatives of a concept of ``level``: positions, or the key_ids of whole drawings.

    Raises:
        ConceptError: They are not what the level takes; the message names ``what``.
    """
    return _drawings(items, what) if level == DRAWING else _positions(items, what)


def _listed(members: Iterable[Any]) -> list[Any]:
    """Members as JSON-ready data: a position as ``[key_id, y, x]``, a drawing as its key_id."""
    return [m if isinstance(m, str) else list(m) for m in members]


def _plain(value: object, where: str) -> Any:
    """A JSON-ready deep copy of ``value`` (nested dicts with sorted keys), or a ConceptError saying what is not."""
    if isinstance(value, str) and unencodable(value):
        raise ConceptError(f"{where}: {value!r} holds a lone surrogate (half of a character); send it as UTF-8")
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        if not math.isfinite(value):
            raise ConceptError(f"{where}: {value!r} is not a finite number")
        return float(value)
    if isinstance(value, Mapping):
        bad = [key for key in value if not isinstance(key, str)]
        if bad:
            raise ConceptError(f"{where}: keys must be text, got {bad[0]!r}")
        return {key: _plain(value[key], f"{where}.{key}") for key in sorted(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    raise ConceptError(f"{where}: {value!r} ({type(value).__name__}) is not text, a number, a list or a mapping")


def _source(value: object) -> dict[str, Any]:
    """Validate a concept's source and return a copy with ``kind`` first (the rest sorted, for stable files)."""
    if not isinstance(value, Mapping):
        raise ConceptError(f"source: expected a mapping such as {{kind: cluster, cluster: 12}}, got {value!r}")
    plain = _plain(value, "source")
    kind = plain.pop("kind", None)
    if kind not in SOURCE_KINDS:
        raise ConceptError(f"source: kind must be one of {', '.join(SOURCE_KINDS)}, got {kind!r}")
    return {"kind": kind, **plain}


def check_line(value: object, what: str) -> str:
    """A one-line, non-empty, stripped piece of text (a layer path, an actor).

    Raises:
        ConceptError: ``value`` is not such text; the message starts with ``what``.
    """
    if not isinstance(value, str) or not value.strip() or any(_is_control(ch) for ch in value) or unencodable(value):
        raise ConceptError(f"{what}: expected a non-empty line of text, got {value!r}")
    return value.strip()


def check_count(value: object, what: str) -> int:
    """``value`` as an int, if it is a whole number >= 0.

    Raises:
        ConceptError: It is not; the message starts with ``what``.
    """
    if not is_index(value):
        raise ConceptError(f"{what}: expected a whole number >= 0, got {value!r}")
    return int(value)


def _notes(value: object) -> str:
    """Notes: free text; line ends are normalised (a browser sends \\r\\n) and outer whitespace dropped."""
    if not isinstance(value, str):
        raise ConceptError(f"notes: expected text, got {value!r}")
    notes = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if unencodable(notes):
        raise ConceptError("notes: they hold a lone surrogate (half of a character); send the text as UTF-8")
    if any(_is_control(ch) and ch not in "\n\t" for ch in notes):
        raise ConceptError("notes: remove the control characters (only line breaks and tabs are kept)")
    if len(notes) > MAX_NOTES_LENGTH:
        raise ConceptError(f"notes: {len(notes)} characters is too long; keep them under {MAX_NOTES_LENGTH}")
    return notes


def id_number(concept_id: str) -> int:
    """The number of a concept id (3 for ``c3``).

    Raises:
        ConceptError: It is not a concept id.
    """
    match = _ID_RE.fullmatch(concept_id) if isinstance(concept_id, str) else None
    if match is None:
        raise ConceptError(f"id: concept ids look like c1, c2, ...; got {concept_id!r}")
    return int(match.group(1))


def validate_name(name: str, existing: Iterable[str] = ()) -> str:
    """Check a concept name and return it normalised (see :func:`core.names.check_name`).

    Markup such as ``<b>`` is allowed and kept verbatim: every display escapes names.

    Args:
        name: The proposed name.
        existing: The names of the other concepts; the new name must differ from each case-insensitively.

    Returns:
        The name in NFC, without leading and trailing whitespace.

    Raises:
        ConceptError: The name is empty, longer than 80 characters, holds a control or invisible character
            (zero-width, bidi override) or a lone surrogate, looks like a concept id (``c12``) or is already taken.
    """
    if isinstance(name, str) and not name.strip():
        raise ConceptError("the concept needs a name: type a word or two, for example 'ear'")
    try:
        stripped = check_name(name, max_length=MAX_NAME_LENGTH)
    except NameProblem as problem:
        raise ConceptError(str(problem)) from None
    if _ID_LIKE_RE.fullmatch(stripped):
        raise ConceptError(f"names like {stripped!r} are kept for concept ids; choose a word, for example 'ear'")
    folded = stripped.casefold()
    for other in existing:
        if other.casefold() == folded:
            raise ConceptError(
                f"there is already a concept named {other!r}; choose another name, or merge the two concepts"
            )
    return stripped


# --- concepts and states ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Concept:
    """A named concept: where in the data it is (positives) and where it is not (negatives).

    ``verified`` are the positives the person looked at and kept (the exemplars shown, minus the unticked):
    fine-tuning trusts them more than the other members of a promoted cluster, which nobody looked at.

    ``level`` says what the positives and negatives are: ``position`` (the default), positions ``(key_id, y,
    x)`` where the concept is or is not; ``drawing``, the key_ids of whole drawings that have it or not (an idea
    that is not a part, such as which way an animal faces).

    Construction normalises: positions are sorted and unique, a position that is both positive and negative
    stays positive only, and verified positions are positives.

    Raises:
        ConceptError: A position or the source is malformed.
    """

    id: str
    name: str
    born_round: int
    layer: str
    source: dict[str, Any]
    positives: tuple[Member, ...]
    negatives: tuple[Member, ...]
    notes: str = ""
    verified: tuple[Member, ...] = ()
    level: str = POSITION

    def __post_init__(self) -> None:
        level = _level(self.level)
        positives = _members(self.positives, "positives", level)
        taken = set(positives)
        negatives = tuple(p for p in _members(self.negatives, "negatives", level) if p not in taken)
        object.__setattr__(self, "positives", positives)
        object.__setattr__(self, "negatives", negatives)
        object.__setattr__(self, "verified",
                           tuple(p for p in _members(self.verified, "verified", level) if p in taken))
        object.__setattr__(self, "source", _source(self.source))  # a private copy: callers may mutate theirs

    def to_dict(self) -> dict[str, Any]:
        """The concept as JSON-ready data; positions as ``[key_id, y, x]`` lists, drawings as key_ids."""
        return {
            "id": self.id,
            "name": self.name,
            "born_round": self.born_round,
            "layer": self.layer,
            "source": copy.deepcopy(self.source),
            "notes": self.notes,
            "positives": _listed(self.positives),
            "negatives": _listed(self.negatives),
            **({"verified": _listed(self.verified)} if self.verified else {}),
            **({"level": self.level} if self.level != POSITION else {}),  # older files read the same
        }


def concept_from_dict(data: Mapping[str, Any]) -> Concept:
    """Build a concept from stored data (a file entry, a promote event, a snapshot), checking every field.

    Raises:
        ConceptError: A field is missing, unknown or malformed; the message names it.
    """
    unknown = sorted(set(data) - set(CONCEPT_KEYS) - set(OPTIONAL_CONCEPT_KEYS), key=str)
    if unknown:
        raise ConceptError(f"unknown key {unknown[0]!r} (a concept has {', '.join(CONCEPT_KEYS)})")
    missing = [key for key in CONCEPT_KEYS if key not in data]
    if missing:
        raise ConceptError(f"missing key {missing[0]!r} (a concept has {', '.join(CONCEPT_KEYS)})")
    id_number(data["id"])
    return Concept(
        id=data["id"],
        name=validate_name(data["name"]),
        born_round=check_count(data["born_round"], "born_round"),
        layer=check_line(data["layer"], "layer"),
        source=data["source"],
        positives=data["positives"],
        negatives=data["negatives"],
        notes=_notes(data["notes"]),
        verified=data.get("verified", ()),
        level=_level(data.get("level", POSITION)),
    )


@dataclass(frozen=True)
class StoreState:
    """The store at one version.

    Attributes:
        version: How many events the log held at this state (0 for a new store).
        next_id: The number of the next concept id; ids are never reused, even after a delete or undo.
        concepts: The concepts in creation order.
        next_round: The round the pipeline builds next: one after the highest ``round`` of the log's events
            (0 when none has one). Derived from the log, so it is not part of :meth:`content_hash`.
    """

    version: int
    next_id: int
    concepts: tuple[Concept, ...]
    next_round: int = 0

    def get(self, ref: str) -> Concept:
        """A concept by id (``c3``) or by name (case-insensitive).

        Raises:
            UnknownConceptError: No concept has that id or name; the message lists the known ones.
        """
        if not isinstance(ref, str):
            raise UnknownConceptError(f"a concept is named by its id or name, got {ref!r}")
        wanted = ref.strip().casefold()
        for concept in self.concepts:
            if concept.id == wanted:
                return concept
        for concept in self.concepts:
            if concept.name.casefold() == wanted:
                return concept
        if not self.concepts:
            raise UnknownConceptError(f"no concept {ref!r}: the concept store has no concepts yet")
        known = ", ".join(f"{c.name!r} ({c.id})" for c in self.concepts[:30])
        more = f" and {len(self.concepts) - 30} more" if len(self.concepts) > 30 else ""
        raise UnknownConceptError(f"no concept {ref!r}; the known concepts are {known}{more}")

    def to_dict(self) -> dict[str, Any]:
        """The state as JSON-ready data."""
        return {"version": self.version, **self.content(), "next_round": self.next_round}

    def content(self) -> dict[str, Any]:
        """The human's decisions, as JSON-ready data: ``next_id`` and the concepts (what an external edit records)."""
        return {"next_id": self.next_id, "concepts": [c.to_dict() for c in self.concepts]}

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON of ``next_id`` and the concepts (not the version, not next_round)."""
        canonical = json.dumps(self.content(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


EMPTY_STATE = StoreState(0, 1, ())
EMPTY_HASH = EMPTY_STATE.content_hash()


def next_round_after(events: Iterable[Mapping[str, Any]], next_round: int = 0) -> int:
    """The round the pipeline builds next once ``events`` are in the log.

    Args:
        events: Events; each may carry a ``round``, the round of the atlas its change was made on.
        next_round: The value before them.

    Returns:
        One more than the highest round among the events, or ``next_round`` if that is higher; an undo that
        records the value it restores (``args["next_round"]``, the value before the action it undoes) sets it
        back, so that a promote and its undo leave the round the pipeline builds next as it was.
    """
    for event in events:
        restored = event["args"].get("next_round") if event.get("op") == "undo" else None
        if is_index(restored):
            next_round = restored
        elif is_index(event.get("round")):
            next_round = max(next_round, int(event["round"]) + 1)
    return next_round


@dataclass(frozen=True)
class Change:
    """What a write did.

    Attributes:
        version: The store's version after the change.
        op: The operation (``promote``, ``add``, ``rename``, ...).
        concept_ids: The concepts it created or affected (for ``undo``: those of the undone event).
        event: The event appended to the log.
    """

    version: int
    op: str
    concept_ids: tuple[str, ...]
    event: dict[str, Any]


# --- requests: what a caller asks for, checked against the state and resolved into an event's args -------
#
# The store's operation methods document the arguments; each function raises ConceptError (or
# UnknownConceptError) when the request does not fit the state.


def promote_args(state: StoreState, name: str, positives: Iterable[Position], negatives: Iterable[Position], *,
                 layer: str, born_round: int, source: Mapping[str, Any], notes: str,
                 verified: Iterable[Position] = (), level: str = POSITION) -> dict[str, Any]:
    """The new concept, with the next id (see :meth:`conceptstore.store.ConceptStore.promote`)."""
    level = _level(level)
    concept = Concept(
        id=f"c{state.next_id}",
        name=validate_name(name, (c.name for c in state.concepts)),
        born_round=check_count(born_round, "born_round"),
        layer=check_line(layer, "layer"),
        source=source,
        positives=_members(positives, "positives", level),
        negatives=_members(negatives, "negatives", level),
        notes=_notes(notes),
        verified=_members(verified, "verified", level),
        level=level,
    )
    if not concept.positives:
        raise ConceptError("a concept needs at least one positive example: tick one or more exemplars")
    return concept.to_dict()


def add_args(state: StoreState, ref: str, positives: Iterable[Position], negatives: Iterable[Position],
             source: Mapping[str, Any] | None, verified: Iterable[Position] = ()) -> dict[str, Any]:
    """The concept's id and the positions to add (see :meth:`conceptstore.store.ConceptStore.add`)."""
    concept = state.get(ref)
    level = concept.level
    ticked, unticked = _members(positives, "positives", level), _members(negatives, "negatives", level)
    if not ticked and not unticked:
        raise ConceptError(f"nothing to add to {concept.name!r}: give positive or negative positions")
    if not set(concept.positives) - set(unticked) and not ticked:
        raise ConceptError(f"this would leave {concept.name!r} with no positive example; delete it instead")
    args: dict[str, Any] = {"id": concept.id, "positives": _listed(ticked), "negatives": _listed(unticked)}
    checked = _listed(p for p in _members(verified, "verified", level) if p in set(ticked))
    if checked:
        args["verified"] = checked
    if source is not None:
        args["source"] = _source(source)
    return args


def move_args(state: StoreState, source: str, target: str, positions: Iterable[Position]) -> dict[str, Any]:
    """The two concepts' ids and the positions to move (see :meth:`conceptstore.store.ConceptStore.move`)."""
    origin, destination = state.get(source), state.get(target)
    if origin.id == destination.id:
        raise ConceptError(f"move from {origin.name!r} to itself: name another concept")
    if origin.level != destination.level:
        raise ConceptError(f"cannot move from {origin.name!r} ({origin.level}-level) to {destination.name!r} "
                           f"({destination.level}-level): a concept's examples are all positions or all drawings")
    moved = _members(positions, "positions", origin.level)
    if not moved:
        raise ConceptError("move which positions? give one or more")
    foreign = [p for p in moved if p not in set(origin.positives)]
    if foreign:
        raise ConceptError(f"{_listed(foreign)[0]} is not a positive example of {origin.name!r}")
    if not set(origin.positives) - set(moved):
        raise ConceptError(f"this would leave {origin.name!r} with no positive example; merge it instead")
    return {"id": origin.id, "to": destination.id, "positions": _listed(moved)}


def rename_args(state: StoreState, ref: str, name: str) -> dict[str, Any]:
    """The concept's id, new name and old name (see :meth:`conceptstore.store.ConceptStore.rename`)."""
    concept = state.get(ref)
    others = (c.name for c in state.concepts if c.id != concept.id)
    return {"id": concept.id, "name": validate_name(name, others), "old_name": concept.name}


def set_notes_args(state: StoreState, ref: str, notes: str) -> dict[str, Any]:
    """The concept's id and normalised notes (see :meth:`conceptstore.store.ConceptStore.set_notes`)."""
    return {"id": state.get(ref).id, "notes": _notes(notes)}


def merge_args(state: StoreState, refs: Sequence[str], name: str | None) -> dict[str, Any]:
    """The ids to merge, the kept one first, and the result's name (see :meth:`conceptstore.store.ConceptStore.merge`)."""
    parts = list({c.id: c for c in (state.get(ref) for ref in refs)}.values())
    if len(parts) < 2:
        raise ConceptError("merge needs at least two different concepts")
    layers = sorted({c.layer for c in parts})
    if len(layers) > 1:
        raise ConceptError(f"cannot merge concepts on different layers ({', '.join(layers)})")
    levels = sorted({c.level for c in parts})
    if len(levels) > 1:
        raise ConceptError("cannot merge a position-level concept with a drawing-level one: the examples of one "
                           "are positions, of the other whole drawings")
    merged = {c.id for c in parts}
    others = (c.name for c in state.concepts if c.id not in merged)
    new_name = parts[0].name if name is None else validate_name(name, others)
    return {"ids": [c.id for c in parts], "name": new_name}


def split_args(state: StoreState, ref: str, pairs: Sequence[Any]) -> dict[str, Any]:
    """The original's id and the new concepts (id, name, positives) (see :meth:`conceptstore.store.ConceptStore.split`)."""
    original = state.get(ref)
    if not pairs:
        raise ConceptError(f"split {original.name!r} into what? give one or more (name, positions) groups")
    owned, taken = set(original.positives), set()
    resolved: list[tuple[str, tuple[Member, ...]]] = []
    for i, pair in enumerate(pairs):
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise ConceptError(f"group {i + 1}: expected (name, positions), got {pair!r}")
        positions = _members(pair[1], f"group {i + 1} positions", original.level)
        if not positions:
            raise ConceptError(f"group {i + 1}: give at least one position")
        foreign = [p for p in positions if p not in owned]
        if foreign:
            raise ConceptError(f"group {i + 1}: {_listed(foreign)[0]} is not a positive example of {original.name!r}")
        shared = taken.intersection(positions)
        if shared:
            raise ConceptError(f"group {i + 1}: {_listed([min(shared)])[0]} is already in another group")
        taken.update(positions)
        resolved.append((pair[0], positions))
    # The original's name is free again when nothing is left of it.
    others = [c.name for c in state.concepts if c.id != original.id or owned - taken]
    out = []
    for i, (group_name, positions) in enumerate(resolved):
        group_name = validate_name(group_name, others)
        others.append(group_name)
        out.append({"id": f"c{state.next_id + i}", "name": group_name, "positives": _listed(positions)})
    return {"id": original.id, "groups": out}


def delete_args(state: StoreState, ref: str) -> dict[str, Any]:
    """The concept's id and name (see :meth:`conceptstore.store.ConceptStore.delete`)."""
    concept = state.get(ref)
    return {"id": concept.id, "name": concept.name}


# --- the operations, as pure functions of the state and an event's fully resolved args -----------------


class _Edit:
    """The concepts by id while one event changes them, and the next free id number."""

    def __init__(self, state: StoreState) -> None:
        self.by_id = {c.id: c for c in state.concepts}  # dicts keep creation order; replacing a key keeps its place
        self.next_id = state.next_id

    def concept(self, concept_id: str) -> Concept:
        """The concept with this id.

        Raises:
            ConceptError: There is none.
        """
        if concept_id not in self.by_id:
            raise ConceptError(f"there is no concept {concept_id!r}")
        return self.by_id[concept_id]

    def create(self, new: Concept) -> None:
        """Add a new concept (and move next_id past its id).

        Raises:
            ConceptError: Its id is taken.
        """
        if new.id in self.by_id:
            raise ConceptError(f"the concept id {new.id} is already taken")
        self.by_id[new.id] = new
        self.next_id = max(self.next_id, id_number(new.id) + 1)


def _apply_promote(edit: _Edit, args: Mapping[str, Any]) -> None:
    edit.create(concept_from_dict(args))


def _apply_add(edit: _Edit, args: Mapping[str, Any]) -> None:
    old = edit.concept(args["id"])
    ticked = set(_members(args["positives"], "positives", old.level))
    unticked = set(_members(args["negatives"], "negatives", old.level)) - ticked
    edit.by_id[old.id] = dataclasses.replace(
        old,
        positives=tuple((set(old.positives) - unticked) | ticked),
        negatives=tuple((set(old.negatives) - ticked) | unticked),
        verified=tuple((set(old.verified) - unticked) | set(_members(args.get("verified", ()), "verified", old.level))),
    )


def _apply_move(edit: _Edit, args: Mapping[str, Any]) -> None:
    """The positions leave the first concept (as its negatives) for the second's positives."""
    old, new = edit.concept(args["id"]), edit.concept(args["to"])
    moved = set(_members(args["positions"], "positions", old.level))
    edit.by_id[old.id] = dataclasses.replace(old, positives=tuple(set(old.positives) - moved),
                                             negatives=tuple(set(old.negatives) | moved),
                                             verified=tuple(set(old.verified) - moved))
    edit.by_id[new.id] = dataclasses.replace(new, positives=tuple(set(new.positives) | moved),
                                             negatives=tuple(set(new.negatives) - moved))


def _apply_rename(edit: _Edit, args: Mapping[str, Any]) -> None:
    edit.by_id[args["id"]] = dataclasses.replace(edit.concept(args["id"]), name=args["name"])


def _apply_set_notes(edit: _Edit, args: Mapping[str, Any]) -> None:
    edit.by_id[args["id"]] = dataclasses.replace(edit.concept(args["id"]), notes=args["notes"])


def _apply_merge(edit: _Edit, args: Mapping[str, Any]) -> None:
    parts = [edit.concept(i) for i in args["ids"]]
    positives = set().union(*(c.positives for c in parts))
    edit.by_id[parts[0].id] = dataclasses.replace(
        parts[0],
        name=args["name"],
        source={"kind": "merge", "from": [c.id for c in parts]},
        positives=tuple(positives),
        negatives=tuple(set().union(*(c.negatives for c in parts)) - positives),
        notes="\n\n".join(dict.fromkeys(c.notes for c in parts if c.notes)),
        verified=tuple(set().union(*(c.verified for c in parts))),
    )
    for part in parts[1:]:
        del edit.by_id[part.id]


def _apply_split(edit: _Edit, args: Mapping[str, Any]) -> None:
    original = edit.concept(args["id"])
    groups = [(g["id"], g["name"], _members(g["positives"], "positives", original.level)) for g in args["groups"]]
    rest = set(original.positives).difference(*(positions for _, _, positions in groups))
    if rest:
        edit.by_id[original.id] = dataclasses.replace(original, positives=tuple(rest),
                                                      verified=tuple(set(original.verified) & rest))
    else:
        del edit.by_id[original.id]
    for new_id, name, positions in groups:
        edit.create(Concept(new_id, name, original.born_round, original.layer,
                            {"kind": "split", "from": original.id}, positions, (),
                            verified=tuple(set(original.verified) & set(positions)), level=original.level))


def _apply_delete(edit: _Edit, args: Mapping[str, Any]) -> None:
    del edit.by_id[edit.concept(args["id"]).id]


# One function an operation (other than undo and external_edit), changing the concepts in place.
_APPLY = {
    "promote": _apply_promote, "add": _apply_add, "move": _apply_move, "rename": _apply_rename,
    "set_notes": _apply_set_notes, "merge": _apply_merge, "split": _apply_split, "delete": _apply_delete,
}


def apply(state: StoreState, op: str, args: Mapping[str, Any]) -> tuple[tuple[Concept, ...], int]:
    """Apply one event (other than ``undo``) to a state; live writes and replay both go through here.

    Returns:
        The new concepts and next_id.

    Raises:
        ConceptError: The args do not fit the state (an unknown id, a taken id, malformed data).
        KeyError: An argument is missing.
    """
    if op == "external_edit":  # the file as the person left it
        snapshot = args["state"]
        concepts = tuple(concept_from_dict(c) for c in snapshot["concepts"])
        return concepts, check_count(snapshot["next_id"], "next_id")
    if op not in _APPLY:
        raise ConceptError(f"unknown operation {op!r}")
    edit = _Edit(state)
    _APPLY[op](edit, args)
    return tuple(edit.by_id.values()), edit.next_id


def concept_ids(op: str, args: Mapping[str, Any]) -> tuple[str, ...]:
    """The concepts an event created or affected, from its args."""
    if op == "merge":
        return tuple(args["ids"])
    if op == "split":
        return (args["id"], *(g["id"] for g in args["groups"]))
    if op == "move":
        return (args["id"], args["to"])
    if op in ("undo", "external_edit"):
        return ()
    return (args["id"],)


class Replayer:
    """Applies events in order, keeping what undo needs: the concepts after each version and the undoable actions.

    Undo restores the concepts as they were just before the undone event and keeps next_id (ids are never
    reused). Because undo always takes the latest action not yet undone, this equals replaying the log
    without the undone events.
    """

    def __init__(self) -> None:
        self.state = EMPTY_STATE
        self.history: list[tuple[Concept, ...]] = [()]  # history[v]: the concepts at version v
        self.rounds: list[int] = [0]  # rounds[v]: next_round at version v (what an undo of v + 1 restores)
        self.undoable: list[dict[str, Any]] = []  # actions not yet undone since the last external edit
        self.external_edit: int | None = None  # the version of the last external edit

    def undo_target(self) -> dict[str, Any]:
        """The event the next undo reverts.

        Raises:
            ConceptError: Nothing is left to undo (or only what lies before a hand edit of the file).
        """
        if self.undoable:
            return self.undoable[-1]
        if self.external_edit is not None:
            raise ConceptError(
                f"nothing to undo: the concept file was edited by hand at version {self.external_edit}, "
                "and undo does not go back past a hand edit"
            )
        raise ConceptError("nothing to undo")

    def step(self, event: Mapping[str, Any]) -> StoreState:
        """Apply the next event (whose version must be the next one) and return the new state."""
        op, args, version = event["op"], event["args"], self.state.version + 1
        if op == "undo":
            target = self.undo_target()
            if args["undoes"] != target["version"]:
                raise ConceptError(f"undoes version {args['undoes']}, but the latest action is {target['version']}")
            self.undoable.pop()
            concepts, next_id = self.history[target["version"] - 1], self.state.next_id
        else:
            concepts, next_id = apply(self.state, op, args)
            if op == "external_edit":
                self.undoable.clear()
                self.external_edit = version
            else:
                self.undoable.append(dict(event))
        self.state = StoreState(version, next_id, concepts, next_round_after([event], self.state.next_round))
        self.history.append(concepts)
        self.rounds.append(self.state.next_round)
        return self.state

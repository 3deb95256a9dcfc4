"""The concept store's on-disk formats: the YAML file of the current state, and the event log's lines.

The YAML file is written by hand-rolled code rather than yaml.dump, and read first by a fast path that only
understands that exact layout: PyYAML spends tens of microseconds per position either way, which a store
with thousands of positions pays on every write. The fast reader is checked rather than trusted: its
result counts only if writing it back gives the very same text; anything else (a hand edit in another
layout, an older file, an error) goes through the full YAML parser, whose errors name the line.

The event log holds one JSON object a line (``version``, ``time``, ``actor``, ``op``, ``args``,
``unticked``, an optional ``round`` and the ``hash`` of the state after it); a crash mid-append leaves at
most a torn last line, which readers ignore.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml

from conceptstore.concepts import (
    CONCEPT_KEYS,
    OPS,
    POSITION,
    Concept,
    ConceptError,
    Member,
    StoreState,
    concept_from_dict,
    id_number,
    is_index,
    next_round_after,
    validate_name,
)
from core.errors import InputError

__all__ = ["FORMAT_VERSION", "LogMark", "check_event", "check_log", "dump", "encode_event", "parse", "scan_log"]

FORMAT_VERSION = 1
_TOP_KEYS = ("format_version", "version", "next_id", "next_round", "concepts")
_OPTIONAL_KEYS = ("next_round",)  # derived from the log; files written before it existed lack it

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


# --- writing the YAML file --------------------------------------------------------------------------------

_HEADER = (
    "# Articulate concept store: the concepts named while reading the activation atlases.\n"
    "# Written by the labeling app and `articulate concepts`; every change is also appended to the\n"
    "# event log next to this file (same name, .events.jsonl), from which any earlier state can be replayed.\n"
    "# Positions are [sketch key_id, y, x] on the activation grid of the concept's layer.\n"
    "# next_round: the round `dvc repro` builds next (one after the latest round labeled); derived from the log.\n"
    "# Edit it with the commands, or by hand: the next change then records the edit in the log\n"
    "# as an external edit (undo does not go back past it).\n"
)
_STR_TAG, _FLOAT_TAG = "tag:yaml.org,2002:str", "tag:yaml.org,2002:float"
_RESOLVER = yaml.resolver.Resolver()
# Text that YAML reads as itself when written bare, in block and flow context alike (no indicators, no ", "
# or ": "); the resolver still has to agree that it is a string (not yes, 123, null, 2026-01-01, ...).
_PLAIN_RE = re.compile(r"[A-Za-z0-9_./][A-Za-z0-9_./+()-]*(?: [A-Za-z0-9_./+()-]+)*")
_POSITION_RE = re.compile(r"  - \['((?:[^'\n]|'')*)', (0|[1-9][0-9]*), (0|[1-9][0-9]*)\]")
_DRAWING_RE = re.compile(r"  - '((?:[^'\n]|'')*)'")
_NO_WRAP = 1 << 30


class _Dumper(_BaseDumper):  # type: ignore[misc,valid-type]
    def ignore_aliases(self, data: Any) -> bool:
        return True  # never &id001 anchors, even if two values are the same object


class _Flow(list):  # type: ignore[type-arg]
    """A list written on one line: ``['gen0-0004628', 3, 5]``."""


class _FlowMap(dict):  # type: ignore[type-arg]
    """A mapping written on one line: ``{kind: cluster, cluster: 12}``."""


class _Quoted(str):
    """Text always quoted, so that YAML never reads a key_id like ``1234`` or ``yes`` as a number or bool."""


class _Literal(str):
    """Multi-line text in block style (``|``), readable and diffable line by line."""


# The C emitter only accepts exact str values, hence str(value).
_Dumper.add_representer(_Flow, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))
_Dumper.add_representer(_FlowMap, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True))
_Dumper.add_representer(_Quoted, lambda d, v: d.represent_scalar(_STR_TAG, str(v), style="'"))
_Dumper.add_representer(_Literal, lambda d, v: d.represent_scalar(_STR_TAG, str(v), style="|"))


def _yaml_field(value: Any) -> str:
    """PyYAML's text for a value written after ``key: `` in a concept entry (the general, slow way)."""
    text = yaml.dump([{"k": value}], Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=_NO_WRAP)
    return text[len("- k: "):-1]


def _quoted(text: str) -> str | None:
    # Single quotes hold any printable text (a quote is doubled); anything else needs PyYAML's escapes.
    return "'" + text.replace("'", "''") + "'" if text.isprintable() else None


def _flow(value: Any) -> str | None:
    """The YAML text of a JSON-like value on one line, or None where only PyYAML knows how to write it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)  # YAML 1.1 needs a dot: 1e-05 would come back as text
        return text if _RESOLVER.resolve(yaml.ScalarNode, text, (True, False)) == _FLOAT_TAG else None
    if isinstance(value, str):
        if _PLAIN_RE.fullmatch(value) and _RESOLVER.resolve(yaml.ScalarNode, value, (True, False)) == _STR_TAG:
            return value
        return _quoted(value)
    if isinstance(value, list):
        items = [_flow(item) for item in value]
        return None if None in items else "[" + ", ".join(items) + "]"  # type: ignore[arg-type]
    if isinstance(value, dict):
        pairs = [(_flow(key), _flow(item)) for key, item in value.items()]
        return None if any(None in pair for pair in pairs) else "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
    return None


def dump(state: StoreState) -> str:
    """The YAML text of a state; the same state always gives the same bytes."""
    out = [_HEADER, f"format_version: {FORMAT_VERSION}\n", f"version: {state.version}\n",
           f"next_id: {state.next_id}\n", f"next_round: {state.next_round}\n",
           "concepts:\n" if state.concepts else "concepts: []\n"]
    for c in state.concepts:
        out.append(f"- id: {c.id}\n")
        for key, value in (("name", c.name), ("born_round", c.born_round), ("layer", c.layer),
                           ("source", c.source), ("notes", c.notes)):
            text = None if key == "notes" and "\n" in value else _flow(value)
            if text is None:
                text = _yaml_field(_Literal(value) if key == "notes" else _FlowMap(value) if key == "source" else value)
            out.append(f"  {key}: {text}\n")
        if c.level != POSITION:  # written only when not the default: files from before it existed read the same
            out.append(f"  level: {c.level}\n")
        lists = [("positives", c.positives), ("negatives", c.negatives)]
        if c.verified:  # written only when there are any: files from before it existed read the same
            lists.append(("verified", c.verified))
        for key, positions in lists:
            out.append(f"  {key}:\n" if positions else f"  {key}: []\n")
            for member in positions:
                key_id = member if isinstance(member, str) else member[0]
                quoted = _quoted(key_id) or _yaml_field(_Flow([_Quoted(key_id)]))[1:-1]
                if isinstance(member, str):  # a drawing, of a drawing-level concept
                    out.append(f"  - {quoted}\n")
                else:
                    out.append(f"  - [{quoted}, {member[1]}, {member[2]}]\n")
    return "".join(out)


# --- reading the YAML file --------------------------------------------------------------------------------


def _fast_data(text: str) -> Any:
    """Read a file in :func:`dump`'s layout: position lines by regex, the rest (a few lines a concept) by YAML.

    Returns:
        The data, or None where the text is not in that layout. The caller checks the result.
    """
    skeleton: list[str] = []
    lists: list[list[Member]] = []  # the position (or drawing) lists, in the order of their keys in the file
    current: list[Member] | None = None
    for line in text.split("\n"):
        match = _POSITION_RE.fullmatch(line)
        if match is not None and current is not None:
            current.append((match.group(1).replace("''", "'"), int(match.group(2)), int(match.group(3))))
            continue
        match = _DRAWING_RE.fullmatch(line)
        if match is not None and current is not None:
            current.append(match.group(1).replace("''", "'"))
            continue
        current = None
        if line in ("  positives:", "  negatives:", "  verified:"):
            current = []
            lists.append(current)
        skeleton.append(line)
    try:
        data = yaml.load("\n".join(skeleton), Loader=_Loader)
        remaining = iter(lists)
        for entry in data["concepts"] or ():
            for key in ("positives", "negatives", "verified"):
                if key in entry and entry[key] is None:
                    entry[key] = next(remaining)
    except (yaml.YAMLError, TypeError, KeyError, StopIteration):
        return None
    return data


def _node_lines(node: yaml.Node | None) -> tuple[dict[str, int], list[int]]:
    """1-based lines of the top-level keys and of each concept entry, for error messages."""
    keys: dict[str, int] = {}
    concepts: list[int] = []
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            keys[str(key.value)] = key.start_mark.line + 1
            if key.value == "concepts" and isinstance(value, yaml.SequenceNode):
                concepts = [item.start_mark.line + 1 for item in value.value]
    return keys, concepts


def parse(text: str, path: Path, derived_next_round: Callable[[], int]) -> StoreState:
    """Parse and check the YAML text of a store file.

    Args:
        text: The file's text.
        path: The file, for messages.
        derived_next_round: Gives ``next_round`` (derived from the log) for a file written before that key
            existed; called only for such a file.

    Returns:
        The state the file holds.

    Raises:
        InputError: It is not YAML or not a concept store; names the file, the line where known, and the
            key or concept.
    """
    data = _fast_data(text)
    if isinstance(data, dict) and "next_round" in data:  # a file without it is never in dump's layout
        try:
            state = _from_data(data, path, derived_next_round, {}, [])
        except InputError:
            pass  # the full parser below says where
        else:
            if dump(state) == text:
                return state
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(path, f"is not valid YAML: {problem}", line=None if mark is None else mark.line + 1,
                         hint=_repair_hint(path)) from None
    finally:
        loader.dispose()
    return _from_data(data, path, derived_next_round, *_node_lines(node))


def _repair_hint(path: Path) -> str:
    return (f"fix it by hand, restore it with `git checkout -- {path}`, "
            "or rebuild it from the event log with `articulate concepts replay`")


def _from_data(data: Any, path: Path, derived_next_round: Callable[[], int], key_lines: dict[str, int],
               concept_lines: list[int]) -> StoreState:
    """Check the structure of a loaded store file and build its state.

    Raises:
        InputError: Names the file, the key or concept, and the line where known.
    """

    def fail(problem: str, line: int | None = None) -> NoReturn:
        raise InputError(path, problem, line=line, hint=_repair_hint(path))

    if not isinstance(data, dict):
        fail(f"is not a concept store: expected a mapping with the keys {', '.join(_TOP_KEYS)}")
    for key in data:
        if key not in _TOP_KEYS:
            fail(f"unknown key {key!r} at the top level (expected {', '.join(_TOP_KEYS)})", key_lines.get(str(key)))
    for key in _TOP_KEYS:
        if key not in data and key not in _OPTIONAL_KEYS:
            fail(f"missing key {key!r} at the top level")
    if data["format_version"] != FORMAT_VERSION:
        fail(f"format_version is {data['format_version']!r}; this Articulate reads format_version {FORMAT_VERSION}",
             key_lines.get("format_version"))
    for key in ("version", "next_id", "next_round"):
        if not is_index(data.get(key, 0)):
            fail(f"{key} must be a whole number >= 0, got {data[key]!r}", key_lines.get(key))
    entries = [] if data["concepts"] is None else data["concepts"]
    if not isinstance(entries, list):
        fail(f"concepts must be a list, got {type(entries).__name__}", key_lines.get("concepts"))
    concepts: dict[str, Concept] = {}
    names: dict[str, str] = {}  # casefolded -> as written
    for i, entry in enumerate(entries):
        line = concept_lines[i] if i < len(concept_lines) else None
        label = f"concept {i + 1}"
        if isinstance(entry, dict) and isinstance(entry.get("id"), str):
            label += f" ({entry['id']})"
        if not isinstance(entry, dict):
            fail(f"{label}: expected a mapping with the keys {', '.join(CONCEPT_KEYS)}", line)
        try:
            concept = concept_from_dict(entry)
            if concept.id in concepts:
                raise ConceptError(f"the id {concept.id} is used twice")
            clash = names.get(concept.name.casefold())
            if clash is not None:
                validate_name(concept.name, [clash])  # raises, in its own words
        except ConceptError as exc:
            fail(f"{label}: {exc}", line)
        concepts[concept.id] = concept
        names[concept.name.casefold()] = concept.name
    # A hand-added concept may carry an id at or past next_id: never hand that id out again.
    next_id = max([max(int(data["next_id"]), 1)] + [id_number(i) + 1 for i in concepts])
    next_round = int(data["next_round"]) if "next_round" in data else derived_next_round()
    return StoreState(int(data["version"]), next_id, tuple(concepts.values()), next_round)


# --- the event log ----------------------------------------------------------------------------------------


def encode_event(event: dict[str, Any]) -> bytes:
    """One log line: the event as compact JSON, and a line end."""
    return (json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def check_event(raw: bytes) -> dict[str, Any]:
    """Decode one log line into an event dict.

    Raises:
        ValueError: It is not JSON or not an event.
    """
    event = json.loads(raw.decode("utf-8"))  # JSONDecodeError and UnicodeDecodeError are ValueErrors
    if not isinstance(event, dict):
        raise ValueError("not a JSON object")
    if not is_index(event.get("version")) or event["version"] < 1:
        raise ValueError("no version number")
    if event.get("op") not in OPS:
        raise ValueError(f"unknown op {event.get('op')!r}")
    if not isinstance(event.get("args"), dict) or not isinstance(event.get("hash"), str):
        raise ValueError("no args or hash")
    return event


def scan_log(
    data: bytes, path: Path, first_line: int = 1, previous_version: int = 0
) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    """Parse log lines.

    The last line is ignored when it is unterminated or garbled: a crash in the middle of an append leaves
    it so, and that event had not committed. Versions must count up by one.

    Args:
        data: The log's bytes, or the part of them after ``first_line - 1`` lines already checked.
        path: The log file, for messages.
        first_line: The line number of the first line in ``data``.
        previous_version: The version of the event before ``data`` (0 at the start of the log).

    Returns:
        ``(line number, event)`` for each event, and the length of ``data`` without an ignored last line.

    Raises:
        InputError: A line other than the last is not an event, or a version is out of sequence.
    """
    lines = data.split(b"\n")  # UTF-8 never has a 0x0A byte inside a character
    last = max((i for i, raw in enumerate(lines) if raw.strip()), default=-1)
    events: list[tuple[int, dict[str, Any]]] = []
    good = offset = 0
    for i, raw in enumerate(lines):
        offset += len(raw) + 1
        terminated = i < len(lines) - 1
        if not raw.strip():
            good = min(offset, len(data)) if terminated else good
            continue
        try:
            if not terminated:
                raise ValueError("unterminated line")
            event = check_event(raw)
        except ValueError as exc:
            if i == last:
                break
            raise InputError(
                path, f"is not a valid event ({exc})", line=first_line + i,
                hint=f"restore the log with `git checkout -- {path}`, or delete this line and the ones after it "
                "(the next change then records the concept file as an external edit)",
            ) from None
        if event["version"] != previous_version + 1:
            raise InputError(
                path, f"event version {event['version']} follows version {previous_version}", line=first_line + i,
                hint=f"restore the log with `git checkout -- {path}`",
            )
        events.append((first_line + i, event))
        previous_version = event["version"]
        good = offset
    return events, good


@dataclass(frozen=True)
class LogMark:
    """How much of a log has been checked, so that each write parses only the new lines.

    ``LogMark()`` is the mark of nothing checked yet.
    """

    offset: int = 0  # bytes checked: whole, valid lines
    lines: int = 0  # lines in them
    last: dict[str, Any] | None = None  # the last event in them
    before: dict[str, Any] | None = None  # the event before that
    tail: bytes = b""  # their last bytes, to notice a log replaced under us (git checkout)
    next_round: int = 0  # the round the pipeline builds next, after their events


_MARK_TAIL = 128


def check_log(path: Path, mark: LogMark) -> tuple[LogMark, int]:
    """Check the log lines after ``mark``, or all of them when the log was replaced since.

    Args:
        path: The log file (missing: an empty log).
        mark: What the previous call returned for this log, or ``LogMark()``.

    Returns:
        The new mark (the last events; its offset is the log's size without a torn or garbled last line)
        and the log's size.

    Raises:
        InputError: A line other than the last is damaged.
    """
    try:
        file = open(path, "rb")
    except FileNotFoundError:
        return LogMark(), 0
    with file:
        size = os.fstat(file.fileno()).st_size
        if mark.offset > size:
            mark = LogMark()
        elif mark.offset:
            file.seek(mark.offset - len(mark.tail))
            if file.read(len(mark.tail)) != mark.tail:
                mark = LogMark()
        file.seek(mark.offset)
        data = file.read(size - mark.offset)
    previous = 0 if mark.last is None else mark.last["version"]
    events, good = scan_log(data, path, mark.lines + 1, previous)
    if events:
        checked = file_tail = data[:good]
        if len(checked) < _MARK_TAIL:
            file_tail = mark.tail + checked
        before = events[-2][1] if len(events) > 1 else mark.last
        mark = LogMark(mark.offset + good, mark.lines + checked.count(b"\n"), events[-1][1], before,
                       file_tail[-_MARK_TAIL:], next_round_after((event for _, event in events), mark.next_round))
    return mark, size

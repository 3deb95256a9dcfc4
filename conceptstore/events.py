"""One-line descriptions of the concept store's events, for the page's history and ``articulate concepts log``."""

from __future__ import annotations

from typing import Any

from core.text import plural

__all__ = ["describe_event"]


def _count(args: dict[str, Any], key: str) -> int:
    return len(args.get(key) or [])


def describe_event(event: dict[str, Any]) -> str:
    """What an event did, in words: e.g. ``promoted 'ear' (c1): 120 positions, 4 unticked``."""
    op, args = event.get("op", "?"), event.get("args") or {}
    name, ident = args.get("name"), args.get("id")
    unticked = f", {event['unticked']} unticked" if event.get("unticked") else ""
    if op == "promote":
        kind = "drawing" if args.get("level") == "drawing" else "position"
        return f"promoted '{name}' ({ident}): {plural(_count(args, 'positives'), kind)}{unticked}"
    if op == "add":
        return f"added {plural(_count(args, 'positives'), 'position')} to {ident}{unticked}"
    if op == "move":
        return f"moved {plural(_count(args, 'positions'), 'position')} from {ident} to {args.get('to')}"
    if op == "rename":
        return f"renamed {ident} from '{args.get('old_name', '?')}' to '{name}'"
    if op == "set_notes":
        return f"set the notes of {ident}"
    if op == "merge":
        return f"merged {', '.join(args.get('ids') or [])} into {ident or (args.get('ids') or ['?'])[0]} '{name}'"
    if op == "split":
        made = ", ".join(f"'{g.get('name')}' ({g.get('id')})" for g in args.get("groups") or [])
        return f"split {ident}: {made}"
    if op == "delete":
        return f"deleted {ident}" + (f" '{name}'" if name else "")
    if op == "undo":
        return f"undid version {args.get('undoes')}"
    if op == "external_edit":
        return "recorded a change made to the file outside Articulate"
    return op

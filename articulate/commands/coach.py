"""The ``articulate feedback`` command: replay a recorded drawing stroke by stroke and tell its story."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from articulate.commands import SKETCH_REF, read_sketch_ref

__all__ = ["add_commands", "feedback_command", "timeline_lines"]


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``feedback`` on the ``articulate`` command's subparsers."""
    p = subparsers.add_parser("feedback", help="replay a drawing stroke by stroke: what the round's model says "
                                               "is missing, improved, complete")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. coach.events.improved_share=0.7")
    p.add_argument("--sketch", required=True, help=SKETCH_REF)
    p.add_argument("--target", default=None, help="the class the drawing is of (default: the model's reading of "
                                                   "the finished drawing)")
    p.add_argument("--round", type=int, default=None, help="the round whose model speaks (default: the latest built)")
    p.add_argument("--out", default="feedback", help="folder for the chart PNG and the event JSON (default feedback/)")
    p.set_defaults(action=feedback_command)


def timeline_lines(coach: Any, replay: Any) -> list[str]:
    """The replay as text: per stroke, the model's reading (or that it is not sure what the drawing is) and what
    happened; then what is still missing."""
    names = [c.name for c in coach.concepts]
    lines = []
    for k, frame in enumerate(replay.frames, start=1):
        part = f" ({replay.sketch.parts[k - 1]})" if replay.sketch.parts else ""
        top, p = replay.top[k]
        said = [f"{'improved' if e.kind == 'improved' else 'complete'}: {names[e.concept]}"
                for e in frame.events]
        reading = f"not sure ({top} {p:.2f})" if replay.unsure[k] else f"{top} {p:.2f}"
        lines.append(f"stroke {k:>3}{part:<12} model: {reading}   " + ("; ".join(said) if said else "-"))
    last = replay.frames[-1] if replay.frames else None
    if last is not None:
        from pipeline.coach.coach import UNSURE_TEXT  # torch: only once a coach exists

        if replay.unsure[-1]:
            lines.append(f"{UNSURE_TEXT} (the finished drawing is unlike the drawings the model knows)")
        lines.append("missing at the end: " + (", ".join(names[k] for k in last.missing) or "nothing"))
        lines.append("looks complete: " + (", ".join(names[k] for k in last.complete) or "nothing"))
    return lines


def replay_document(coach: Any, replay: Any) -> dict[str, Any]:
    """The replay as JSON: the drawing (ndjson record), the target, each frame's levels and events."""
    ids = [c.id for c in coach.concepts]
    return {
        "round": coach.round, "target": replay.target, "drawing": replay.sketch.to_ndjson_record(),
        "concepts": [{"id": c.id, "name": c.name, "kind": c.kind} for c in coach.concepts],
        "frames": [{"strokes": k, "top": {"class": replay.top[k][0], "p": round(replay.top[k][1], 4)},
                    "unsure": replay.unsure[k], "familiarity": coach.familiarity_answer(replay.familiarity[k]),
                    "levels": coach.sent_levels(replay.levels[k]),
                    "events": [{"kind": e.kind, "concept": ids[e.concept], "level": round(e.level, 4),
                                "change": round(e.change, 4)} for e in replay.frames[k - 1].events] if k else [],
                    "missing": [ids[j] for j in replay.frames[k - 1].missing] if k else []}
                   for k in range(len(replay.levels))],
    }


def feedback_command(args: argparse.Namespace) -> None:
    """``articulate feedback``: print the event timeline of a drawing; write its chart and event JSON."""
    from pipeline.coach.chart import save_replay_figure
    from pipeline.coach.coach import Coach
    from pipeline.config import compose
    from core.io import atomic_write_text

    cfg = compose(args.overrides)
    sketch = read_sketch_ref(args.sketch, int(cfg.labeling.max_file_bytes))
    coach = Coach.load(cfg, args.round, progress=True)
    replay = coach.replay(sketch, args.target)
    belongs = coach.canon.belongs(coach.scorer.class_names.index(replay.target))
    reading = (f"not sure what it is (closest: {replay.target})" if args.target is None and replay.unsure[-1]
               else replay.target)
    print(f"round {coach.round}: {sketch.word} {sketch.key_id} ({sketch.num_strokes} strokes) read as "
          f"{reading}, in {len(coach.concepts)} {coach.concepts[0].kind}s")
    for line in timeline_lines(coach, replay):
        print(line)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{_safe(sketch.key_id)}"
    chart = save_replay_figure(replay, coach.concepts, belongs, out / f"{stem}.png")
    events = out / f"{stem}.json"
    atomic_write_text(events, json.dumps(replay_document(coach, replay), indent=1) + "\n")
    print(f"wrote {chart} and {events}")


def _safe(name: str) -> str:
    """A file name from a key_id (anything but letters, digits, '-', '_' and '.' becomes '_')."""
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[:80] or "drawing"

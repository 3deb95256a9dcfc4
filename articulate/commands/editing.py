"""The ``articulate edit`` command: ablate or boost a named concept in one drawing and print what changes."""

from __future__ import annotations

import argparse

from articulate.commands import SKETCH_REF, read_sketch_ref

__all__ = ["add_commands", "edit_command"]


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``edit`` on the ``articulate`` command's subparsers."""
    p = subparsers.add_parser("edit", help="ablate or boost a concept in a drawing's atlas layer and print how the "
                                           "model's output changes")
    p.add_argument("overrides", nargs="*", help="Hydra overrides")
    p.add_argument("--sketch", required=True, help=SKETCH_REF)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--ablate", metavar="NAME", help="a concept (name or id) to remove (factor 0)")
    what.add_argument("--boost", metavar="NAME", help="a concept (name or id) to amplify (--factor, default 3)")
    p.add_argument("--factor", type=float, default=None, help="what the concept is multiplied by (ablate: 0, boost: 3)")
    p.add_argument("--mode", choices=("direction", "positions"), default="direction",
                   help="direction: scale the concept's direction; positions: scale whole vectors where it fires")
    p.add_argument("--where", choices=("everywhere", "fires"), default="everywhere",
                   help="direction mode: edit every position or only where the concept fires")
    p.add_argument("--grow", type=int, default=0, help="also edit this many positions around where it fires")
    p.add_argument("--round", type=int, default=None, help="the round's model (default: the latest built)")
    p.set_defaults(action=edit_command)


def edit_command(args: argparse.Namespace) -> None:
    """``articulate edit``: the class probabilities and concept presences before and after the edit."""
    import numpy as np

    from pipeline.config import compose
    from pipeline.data.raster import rasterize
    from pipeline.editing.surgery import Surgeon
    from pipeline.models.build import load_trained
    from pipeline.rounds import latest_round, model_path

    cfg = compose(args.overrides, targets=False)
    sketch = read_sketch_ref(args.sketch, int(cfg.labeling.max_file_bytes))
    r = latest_round(cfg.paths.atlases) if args.round is None else args.round
    surgeon = Surgeon(load_trained(model_path(cfg, r)), threshold=float(cfg.evaluate.threshold))
    name = args.ablate or args.boost
    factor = args.factor if args.factor is not None else (0.0 if args.ablate else 3.0)
    k = surgeon.concept_index(name)
    run = surgeon.prepare(rasterize(sketch, surgeon.model.raster)[None])
    out = surgeon.edit(run, [k], factor, where=args.where, mode=args.mode, grow=args.grow)
    classes = surgeon.model.class_names
    print(f"round {r}: {sketch.word} {sketch.key_id}, {surgeon.names[k]} x {factor:g} ({args.mode}"
          f"{', ' + args.where if args.mode == 'direction' else ''}; {int(out.edited_positions[0])} positions edited)")
    order = list(np.argsort(-out.before[0])[:5])
    riser = int(np.argmax(out.after[0] - out.before[0]))
    if riser not in order:
        order.append(riser)
    print(f"  {'class':<16}{'before':>8}{'after':>8}{'change':>9}")
    for c in order:
        print(f"  {classes[c]:<16}{out.before[0, c]:8.3f}{out.after[0, c]:8.3f}{out.after[0, c] - out.before[0, c]:+9.3f}")
    top_before, top_after = classes[int(out.before[0].argmax())], classes[int(out.after[0].argmax())]
    print(f"  reads as {top_before} before, {top_after} after" + ("" if top_before == top_after else "  <- changed"))
    moved = [j for j in range(len(surgeon.names))
             if j == k or abs(out.presence_after[0, j] - out.presence_before[0, j]) >= 0.1]
    print(f"  {'concept presence':<16}{'before':>8}{'after':>8}")
    for j in moved:
        print(f"  {surgeon.names[j]:<16}{out.presence_before[0, j]:8.3f}{out.presence_after[0, j]:8.3f}")

"""The ``articulate label``, ``articulate concepts`` and ``articulate artist`` commands.

Every operation of the labeling app is also a command, so a session can be scripted::

    articulate label                                  # serve the latest round's atlas on 127.0.0.1:8765
    articulate concepts list
    articulate concepts promote ear --cluster 12 --untick 4430,4859
    articulate concepts rename ear "cat ear"
    articulate concepts split "cat ear" --k 2
    articulate concepts undo
    articulate artist                                 # the simulated artist plays the latest round

Hydra overrides go last for ``label`` and ``artist`` and with ``-o`` for ``concepts``
(``articulate concepts -o experiment=tiny list``).
"""

from __future__ import annotations

import argparse
from typing import Any

from articulate.commands import parse_int_list
from core.text import plural

__all__ = ["add_commands"]

POINT_IDS = "3,17,40-52"  # the example the point-list options show in their errors


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``label``, ``concepts`` and ``artist`` on the ``articulate`` command's subparsers."""
    _add_label(subparsers)
    _add_artist(subparsers)
    p = subparsers.add_parser("concepts", help="read and change the concept store (the app's operations)")
    p.add_argument("-o", "--override", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="a Hydra override (repeatable), e.g. -o paths.concepts=other.yaml")
    ops = p.add_subparsers(dest="op", required=True)
    ops.add_parser("list", help="list the concepts").set_defaults(action=list_command)
    q = ops.add_parser("show", help="one concept in full")
    q.add_argument("ref", help="concept id or name")
    q.set_defaults(action=show_command)
    _add_selection_writes(ops)
    _add_concept_edits(ops)
    _add_store_log(ops)


def _add_label(subparsers: argparse._SubParsersAction) -> None:
    """``articulate label``: serve the labeling app."""
    p = subparsers.add_parser("label", help="serve the labeling app: browse a round's atlas and promote concepts")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. labeling.port=8800 experiment=tiny")
    p.add_argument("--round", type=int, default=None, help="the round to show (default: the latest built)")
    p.add_argument("--host", default=None, help="address to bind (default labeling.host: 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default labeling.port: 8765)")
    p.add_argument("--token", default=None, help="access token (required off loopback; made up when not given)")
    p.set_defaults(action=label_command)


def _add_artist(subparsers: argparse._SubParsersAction) -> None:
    """``articulate artist``: the simulated artist plays a session."""
    p = subparsers.add_parser("artist", help="the simulated artist: play a labeling session on a round")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. labeling.artist.budget=20")
    p.add_argument("--round", type=int, default=None, help="the round to label (default: the latest built)")
    p.set_defaults(action=artist_command)


def _add_selection_writes(ops: argparse._SubParsersAction) -> None:
    """``concepts promote`` and ``concepts add``: a selection of the atlas into the store."""
    for name, helptext in (("promote", "promote a selection of the atlas to a new concept"),
                           ("add", "add a selection of the atlas to a concept")):
        q = ops.add_parser(name, help=helptext)
        q.add_argument("name" if name == "promote" else "ref", help="new name" if name == "promote" else "concept")
        what = q.add_mutually_exclusive_group(required=True)
        what.add_argument("--cluster", type=int, help="a cluster of the atlas")
        what.add_argument("--cell", type=int, help="a grid cell of the atlas")
        what.add_argument("--points", help="atlas point ids, e.g. 3,17,40-52 (a lasso)")
        q.add_argument("--untick", default="", help="exemplar point ids that do not belong (become negatives)")
        q.add_argument("--round", type=int, default=None, help="the atlas's round (default: the latest built)")
        q.add_argument("--layer", default=None, help="the layer's atlas (atlas.layers; default: the atlas layer)")
        if name == "promote":
            q.add_argument("--notes", default="", help="notes kept with the concept")
        q.set_defaults(action=promote_command if name == "promote" else add_command)


def _add_concept_edits(ops: argparse._SubParsersAction) -> None:
    """``concepts rename``, ``notes``, ``merge``, ``split``, ``delete`` and ``undo``."""
    q = ops.add_parser("rename", help="rename a concept")
    q.add_argument("ref")
    q.add_argument("name")
    q.set_defaults(action=lambda a: _write(a, lambda s: s.rename(a.ref, a.name)))
    q = ops.add_parser("notes", help="set a concept's notes")
    q.add_argument("ref")
    q.add_argument("text")
    q.set_defaults(action=lambda a: _write(a, lambda s: s.set_notes(a.ref, a.text)))
    q = ops.add_parser("merge", help="merge concepts into the first one")
    q.add_argument("refs", nargs="+")
    q.add_argument("--name", default=None, help="name of the merged concept (default: the first one's)")
    q.set_defaults(action=lambda a: _write(a, lambda s: s.merge(a.refs, a.name)))
    q = ops.add_parser("split", help="split a concept: a lasso of its points, or sub-clusters")
    q.add_argument("ref")
    how = q.add_mutually_exclusive_group(required=True)
    how.add_argument("--points", help="atlas point ids that become a new concept")
    how.add_argument("--k", type=int, help="split into k sub-clusters of its activations")
    q.add_argument("--name", default=None, help="name of the new concept (with --points)")
    q.add_argument("--round", type=int, default=None, help="the atlas's round (default: the latest built)")
    q.add_argument("--layer", default=None, help="the layer's atlas (atlas.layers; default: the atlas layer)")
    q.set_defaults(action=split_command)
    q = ops.add_parser("delete", help="delete a concept")
    q.add_argument("ref")
    q.set_defaults(action=lambda a: _write(a, lambda s: s.delete(a.ref)))
    ops.add_parser("undo", help="undo the last action").set_defaults(action=lambda a: _write(a, lambda s: s.undo()))


def _add_store_log(ops: argparse._SubParsersAction) -> None:
    """``concepts log``, ``verify`` and ``replay``: the store's event log."""
    q = ops.add_parser("log", help="the event log, newest last")
    q.add_argument("--limit", type=int, default=30)
    q.set_defaults(action=log_command)
    q = ops.add_parser("verify", help="check that the store file equals the replay of its event log")
    q.set_defaults(action=verify_command)
    q = ops.add_parser("replay", help="rewrite the store file from its event log (drops an unrecorded hand edit)")
    q.set_defaults(action=replay_command)


def _config(args: argparse.Namespace) -> Any:
    from pipeline.config import compose

    return compose(args.overrides, targets=False)


def _store(args: argparse.Namespace, actor: str = "cli") -> Any:
    from conceptstore.store import ConceptStore

    return ConceptStore(_config(args).paths.concepts, actor=actor)


def _view(args: argparse.Namespace) -> Any:
    from labeling.atlas_view import AtlasView

    return AtlasView.load(_config(args), getattr(args, "round", None)).at_layer(getattr(args, "layer", None))


def _write(args: argparse.Namespace, operation: Any) -> None:
    from conceptstore.events import describe_event

    change = operation(_store(args))
    print(f"{describe_event(change.event)} (store version {change.version})")


def _selection(args: argparse.Namespace, view: Any) -> Any:
    points = parse_int_list(args.points, "--points", POINT_IDS) if args.points is not None else None
    return view.select(cluster=args.cluster, cell=args.cell, points=points)


def _judged(args: argparse.Namespace, view: Any) -> tuple[Any, Any]:
    """The selection and its judged positions. A person at the command line judged the exemplars of the
    selection's sheet (``clusters/cluster_<n>.png``, the app's exemplars), so those kept are verified."""
    selection = _selection(args, view)
    unticked = parse_int_list(args.untick, "--untick", POINT_IDS, allow_empty=True)
    from labeling.selections import Selections

    return selection, view.judged_positions(selection.points, unticked, Selections(view).exemplars(selection))


def promote_command(args: argparse.Namespace) -> None:
    view = _view(args)
    selection, judged = _judged(args, view)
    _write(args, lambda s: s.promote(args.name, judged.positives, judged.negatives, layer=view.layer,
                                     born_round=view.round, source=selection.source(view), notes=args.notes,
                                     unticked=len(judged.negatives), verified=judged.verified))


def add_command(args: argparse.Namespace) -> None:
    view = _view(args)
    view.check_layer(_store(args).state().get(args.ref))
    selection, judged = _judged(args, view)
    _write(args, lambda s: s.add(args.ref, judged.positives, judged.negatives, source=selection.source(view),
                                 unticked=len(judged.negatives), verified=judged.verified))


def split_command(args: argparse.Namespace) -> None:
    from labeling.routes.concepts import split_groups

    view, store = _view(args), _store(args)
    chosen = parse_int_list(args.points, "--points", POINT_IDS) if args.points else None
    groups = split_groups(view, store, args.ref, points=chosen, name=args.name, k=args.k)
    _write(args, lambda s: s.split(args.ref, groups))


def list_command(args: argparse.Namespace) -> None:
    state = _store(args).state()
    print(f"{plural(len(state.concepts), 'concept')} (store version {state.version})")
    if state.concepts:
        print(f"{'id':<6} {'name':<24} {'born':>4} {'positives':>9} {'negatives':>9}  source")
    for c in state.concepts:
        source = " ".join(f"{k}={v}" for k, v in c.source.items() if k != "atlas")
        print(f"{c.id:<6} {c.name:<24} {c.born_round:>4} {len(c.positives):>9} {len(c.negatives):>9}  {source}")


def show_command(args: argparse.Namespace) -> None:
    import yaml

    concept = _store(args).state().get(args.ref)
    print(yaml.safe_dump(concept.to_dict(), sort_keys=False, allow_unicode=True), end="")


def log_command(args: argparse.Namespace) -> None:
    from conceptstore.events import describe_event

    for event in _store(args).events()[-args.limit:]:
        print(f"{event.get('version', '?'):>5} {event.get('time', '')} {event.get('actor', ''):<18} "
              f"{describe_event(event)}")


def verify_command(args: argparse.Namespace) -> None:
    store = _store(args)
    store.verify()
    print(f"{store.path}: matches the replay of {store.log_path} (version {store.state().version})")


def replay_command(args: argparse.Namespace) -> None:
    store = _store(args)
    state = store.rebuild()
    print(f"{store.path}: rewritten from {store.log_path} (version {state.version}, "
          f"{plural(len(state.concepts), 'concept')})")


def label_command(args: argparse.Namespace) -> None:
    from labeling.app import serve

    serve(_config(args), round_=args.round, host=args.host, port=args.port, token=args.token)


def artist_command(args: argparse.Namespace) -> None:
    from labeling.artist import SimulatedArtist
    from labeling.atlas_view import AtlasView
    from conceptstore.store import ConceptStore
    from pipeline.schema import configured

    cfg = _config(args)
    artist = configured(SimulatedArtist, cfg)
    view = AtlasView.load(cfg, args.round)
    store = ConceptStore(cfg.paths.concepts, actor=artist.actor)
    report = artist.play(view, store)
    print(report.table())
    print(f"concept store: {store.path} (version {store.state().version})")

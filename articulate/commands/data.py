"""The ``articulate data`` commands: ``data fetch quickdraw CLASS...`` downloads public Quick, Draw! files."""

from __future__ import annotations

import argparse
import os
import re
import shlex
from pathlib import Path

__all__ = ["add_commands", "fetch_command", "train_hint"]


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``data fetch`` on the ``articulate`` command's subparsers."""
    p = subparsers.add_parser("data", help="get data into the project: `data fetch quickdraw CLASS...`")
    p = p.add_subparsers(dest="data_command", required=True).add_parser("fetch", help="download a public dataset")
    p = p.add_subparsers(dest="dataset", required=True).add_parser(
        "quickdraw", help="Quick, Draw! classes (simplified ndjson)",
        description="Download the public Quick, Draw! 'simplified' files of the classes into "
                    "<paths.quickdraw_fetched>/ndjson (data/quickdraw/ndjson): resumed where a download stopped, "
                    "checked against the server's hash, recorded in fetch.lock.json; a class already fetched is not "
                    "downloaded again. Options go before the classes.")
    p.add_argument("words", nargs="*", metavar="CLASS | KEY=VALUE",
                   help='classes, as the dataset names them (quote a name with spaces: "alarm clock"; default: '
                        "data=quickdraw's data.source.classes), and Hydra overrides (fetch.quickdraw_url=...)")
    p.add_argument("--to", metavar="FOLDER", default=None,
                   help="download into this folder instead of <paths.quickdraw_fetched>/ndjson")
    p.add_argument("--force", action="store_true", help="also fetch a name that is not a known category")
    p.set_defaults(action=fetch_command)


def fetch_command(args: argparse.Namespace) -> None:
    """``articulate data fetch quickdraw``: one line per class, then the command that trains on them."""
    from pipeline.config import compose
    from pipeline.data.fetch import fetch_quickdraw, resolve_classes

    overrides = [w for w in args.words if "=" in w]  # a class name never holds "="
    names = [w for w in args.words if "=" not in w]
    cfg = compose(overrides, targets=False)
    if not names:
        names = list(compose(["data=quickdraw", *overrides], targets=False).data.source.classes or [])
        print(f"no class given: fetching data=quickdraw's data.source.classes ({', '.join(names)})")
    classes = resolve_classes(names, force=args.force)
    folder = Path(args.to) if args.to else Path(cfg.paths.quickdraw_fetched) / "ndjson"
    fetch = cfg.fetch
    results = fetch_quickdraw(classes, folder, fetch.quickdraw_url, float(fetch.timeout_s), int(fetch.retries),
                              int(fetch.chunk_bytes))
    for r in results:
        where = _shown(r.path)
        if r.status == "downloaded":
            print(f"{r.name}: downloaded {r.size / 2**20:.1f} MiB into {where} ({r.checked} checked; "
                  f"sha256 {r.sha256})")
        elif r.status == "cached":
            print(f"{r.name}: already fetched ({where})")
        else:
            print(f"{r.name}: {where} is there but no fetch recorded it: kept as it is (delete it to fetch it again)")
    print(train_hint(classes, folder, None if args.to else Path(cfg.paths.quickdraw_fetched)))


def train_hint(classes: list[str], folder: Path, root: Path | None) -> str:
    """The command that trains on fetched classes.

    Args:
        classes: The classes.
        folder: The folder of their files.
        root: The folder whose ``ndjson/`` that is (``paths.quickdraw_fetched``), pointed to with
            ``paths.quickdraw``; None points ``data.source.folder`` at ``folder`` instead.

    Returns:
        One line: ``train on them: articulate repro data=quickdraw ...``, quoted for a POSIX shell.
    """
    where = f"paths.quickdraw={_shown(root)}" if root is not None else f"data.source.folder={_shown(folder)}"
    listed = ",".join(c if re.fullmatch(r"[\w-]+", c) else '"' + c.replace('"', '\\"') + '"' for c in classes)
    return (f"train on them: articulate repro data=quickdraw {shlex.quote(where)} "
            f"{shlex.quote(f'data.source.classes=[{listed}]')}")


def _shown(path: Path) -> str:
    """``path`` relative to the working folder where it lies inside it (as the user typed it), else absolute."""
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(Path.cwd()))
    except ValueError:
        return str(absolute)

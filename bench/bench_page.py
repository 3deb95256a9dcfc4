"""Benchmark: the labeling app's first page load in headless Chromium (aim: <= 1.5 s).

Serves the app on a real round: the project's own latest round when it has one (``atlases/``, ``activations/``,
``data/dataset``, ``models/``; Hydra overrides may point its paths at another project folder), else a small project
built on the spot in a temporary folder (the tests' round-0 project: a briefly trained SketchCNN, extract and atlas)
on the configured data where the overrides name it (``data=quickdraw data.source.folder=DIR``), else on a few
hundred generated sketches. Opens ``/`` in a fresh browser
context (nothing cached) ``--loads`` times and prints, from the page's own clock, the time from navigation start to
the atlas and map drawn (``window.articulate.loadedIn``), with the bytes the page fetched.

    python bench/bench_page.py [--loads 5] [--plotly FILE] [overrides ...]
    python bench/bench_page.py --loads 1 threads=1 [overrides ...]       # the smallest run

``--plotly FILE`` serves another plotly.js bundle in place of the page's partial one, to compare (the full
bundle: ``--plotly "$(python -c 'import plotly, pathlib; print(pathlib.Path(plotly.__file__).parent /
"package_data/plotly.min.js")')"`` where the ``plotly`` package is installed).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET_S = 1.5


def _group(override: str) -> str:
    """The top-level key an override sets (``data`` for ``data=quickdraw`` and ``+data.source.x=1``)."""
    return override.lstrip("+~").split("=", 1)[0].split(".", 1)[0]


def _app(overrides: list[str], scratch: Path, round_: int | None):
    """The app on the project's round ``round_`` (default: the latest), or on a small project built in ``scratch``
    (its paths, whatever ``paths.`` the overrides set)."""
    from conceptstore.store import ConceptStore
    from labeling.app import create_app
    from labeling.settings import app_settings
    from labeling.atlas_view import AtlasView
    from pipeline.config import compose

    cfg = compose(overrides)
    if not any(Path(cfg.paths.atlases).glob("round_*/atlas.json")):
        from tests import labeling_project

        data = [o for o in overrides if _group(o) == "data"]
        print(f"no built round in {cfg.paths.atlases}: building a small one on the {cfg.data.name} data "
              "(about half a minute)")
        overrides = [*labeling_project.build(scratch, data=data or None),
                     *(o for o in overrides if _group(o) != "paths")]
        cfg = compose(overrides)
        round_ = None
    view = AtlasView.load(cfg, round_)
    store = ConceptStore(scratch / "concepts.yaml")
    return create_app(view, store, app_settings(cfg, port=0)), view


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=5, help="cold page loads timed")
    parser.add_argument("--round", type=int, default=None, help="the round served (default: the latest built)")
    parser.add_argument("--plotly", type=Path, default=None, help="serve this plotly.js bundle instead")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()

    import uvicorn
    from playwright.sync_api import sync_playwright

    from labeling.routes import files

    if args.plotly:
        if not args.plotly.is_file():
            raise SystemExit(f"--plotly {args.plotly}: no such file")
        files.PLOTLY = args.plotly  # the route reads it on each request

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("bench_page needs Chromium on PATH (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="bench-page-") as tmp:
        app, view = _app(args.overrides, Path(tmp), args.round)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        seconds, fetched, parts = [], [], []
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=[
                    "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
                for _ in range(args.loads):
                    context = browser.new_context(viewport={"width": 1440, "height": 900})  # nothing cached
                    page = context.new_page()
                    page.goto(f"http://127.0.0.1:{port}/")
                    page.wait_for_function("window.articulate && window.articulate.ready", timeout=60_000)
                    seconds.append(page.evaluate("window.articulate.loadedIn") / 1000)
                    parts.append(page.evaluate("window.articulate.timings"))
                    fetched.append(page.evaluate(
                        "performance.getEntriesByType('resource').reduce((s, e) => s + (e.transferSize || 0), 0)"
                        " + performance.getEntriesByType('navigation')[0].transferSize"))
                    context.close()
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    print(f"atlas page of round {view.round} ({len(view)} points), {args.loads} cold loads in headless Chromium, "
          f"plotly.js {files.PLOTLY.name} ({files.PLOTLY.stat().st_size / 1e6:.1f} MB):")
    print(f"navigation start to atlas and map drawn: median {np.median(seconds):.2f} s, worst {max(seconds):.2f} s "
          f"(aim <= {TARGET_S} s: {'met' if np.median(seconds) <= TARGET_S else 'NOT met'}); "
          f"{np.median(fetched) / 1e6:.2f} MB fetched")
    median = {name: np.median([p[name] for p in parts]) for name in ("fetched", "atlas", "map")}
    print(f"where it goes (medians): scripts loaded and the atlas's data in hand {median['fetched']:.0f} ms after "
          f"navigation start, the atlas drawn in {median['atlas']:.0f} ms, the map in {median['map']:.0f} ms")


if __name__ == "__main__":
    from pipeline.entry import guarded

    raise SystemExit(guarded(main))  # a user's mistake (a bad override, a missing file) as one line

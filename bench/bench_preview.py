"""Benchmark: promote -> preview latency, what a label shows at once (aim: p95 <= 1 s on a 10,000-point atlas).

Serves the labeling app on a real round, as bench_page.py does: the project's own latest round when it has one
(Hydra overrides may point its paths at another project folder), else the tests' small round-0 project built on the
spot in a temporary folder. ``--points N`` builds that project from ``--sketches`` generated drawings (1,000: about
11,000 ink positions in the val split) with an atlas of N points, to time the preview on an atlas of that size. For each of ``--promotes`` clusters in turn
(cycling), it promotes the cluster (a few exemplars unticked) through ``POST /api/concepts`` and asks for its
preview (``GET /api/concepts/{id}/preview``), and prints p50 and p95 of the promote -> preview time and of the
preview alone, with the atlas's size.

    python bench/bench_preview.py [--promotes 20] [--points 10000 [--sketches 1000]] [overrides ...]
    python bench/bench_preview.py --promotes 3 threads=1                 # the smallest run
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

TARGET_S = 1.0


def larger_atlas(overrides: list[str], scratch: Path, points: int, sketches: int) -> list[str]:
    """Build the tests' small project in ``scratch`` on the overrides' data, then its round-0 atlas again with
    ``points`` points; returns the overrides that point at it.

    Args:
        overrides: The user's Hydra overrides (their ``data`` group is the data built on).
        scratch: An empty folder.
        points: The atlas's points (at most the val split's ink positions: about 57 a drawing).
        sketches: Generated drawings of the project (a fifth of them are the val split the atlas samples).
    """
    from bench_page import _group
    from pipeline.config import compose
    from pipeline.stages import atlas as atlas_stage
    from tests import labeling_project

    data = [o for o in overrides if _group(o) == "data"]
    print(f"building the small project and a {points}-point atlas of it (a minute or two)")
    settings = [*labeling_project.build(scratch, sketches=sketches, data=data or None), *(o for o in overrides if _group(o) != "paths"),
                f"atlas.sample.count={points}"]
    atlas_stage.run(compose(settings))
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--promotes", type=int, default=20, help="promotes timed, each followed by its preview")
    parser.add_argument("--points", type=int, default=None,
                        help="build the small project's atlas with this many points (only where it is built here)")
    parser.add_argument("--sketches", type=int, default=1000,
                        help="generated drawings of the project built for --points (a fifth are the atlas's val split)")
    parser.add_argument("--round", type=int, default=None, help="the round served (default: the latest built)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    if args.promotes < 1:
        raise SystemExit(f"--promotes: expected at least 1, got {args.promotes}")
    from fastapi.testclient import TestClient

    from bench_page import _app

    with tempfile.TemporaryDirectory(prefix="bench-preview-") as tmp:
        overrides = list(args.overrides)
        if args.points:
            overrides = larger_atlas(overrides, Path(tmp), args.points, args.sketches)
        app, view = _app(overrides, Path(tmp), args.round)
        clusters = [int(c["cluster"]) for c in view.document["clusters"]]
        both, alone, agreement, claimed = [], [], [], []
        with TestClient(app, base_url="http://127.0.0.1") as client:  # a loopback name the app answers to
            for n in range(args.promotes):
                cluster = clusters[n % len(clusters)]
                chosen = client.post("/api/selection", json={"cluster": cluster}).json()
                version = client.get("/api/concepts").json()["version"]
                started = time.perf_counter()
                made = client.post("/api/concepts", json={
                    "name": f"bench {n}", "points": chosen["points"],
                    "unticked": [e["point"] for e in chosen["exemplars"][:3]], "seen": [e["point"] for e in chosen["exemplars"]],
                    "source": {"kind": "cluster", "cluster": cluster}, "expected_version": version})
                made.raise_for_status()
                asked = time.perf_counter()
                answer = client.get(f"/api/concepts/{made.json()['changed'][0]}/preview")
                answer.raise_for_status()
                done = time.perf_counter()
                both.append(done - started)
                alone.append(done - asked)
                agreement.append(answer.json()["agreement"])
                claimed.append(answer.json()["claimed"])
    print(f"round {view.round} atlas: {len(view)} points, {view.meta.channels} channels, {len(clusters)} clusters; "
          f"{args.promotes} promotes of whole clusters, each followed by its preview:")
    p50, p95 = np.percentile(both, [50, 95])
    print(f"promote -> preview: p50 {p50:.3f} s, p95 {p95:.3f} s (aim p95 <= {TARGET_S} s: "
          f"{'met' if p95 <= TARGET_S else 'NOT met'}); the preview alone: p50 {np.percentile(alone, 50):.3f} s, "
          f"p95 {np.percentile(alone, 95):.3f} s")
    known = [a for a in agreement if a is not None]
    print(f"agreement with the label: median {np.median(known) if known else float('nan'):.3f}; points claimed on "
          f"unlabelled drawings: median {np.median(claimed):.0f}")


if __name__ == "__main__":
    from pipeline.entry import guarded

    raise SystemExit(guarded(main))  # a user's mistake (a bad override, a missing file) as one line

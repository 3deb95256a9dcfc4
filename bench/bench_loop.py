"""Benchmark: does the loop work? Four rounds on the default generated data with the simulated artist.

In a scratch copy of the project (the project's own outputs, concept store and MLflow store are untouched):
`articulate repro` builds round 0, then `articulate loop --rounds 3` lets the simulated artist label each new
atlas and `dvc repro` build the next round. Prints, per round: class_acc, parts_discovered out of the true
parts, mean concept IoU, atlas_purity, atlas_nmi, human_actions and wall time, then the aims of issue 6:
at least 80% of the true parts discovered by round 3, mean concept IoU at least 0.5, atlas NMI rising round
over round, one round within 5 minutes here.

    python bench/bench_loop.py [--rounds 3] [--keep DIR] [hydra overrides]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS_AIM, IOU_AIM, ROUND_SECONDS_AIM = 0.8, 0.5, 300.0


def project_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\n")
    return [name for name in listed if name and (ROOT / name).is_file()]


def run(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, env=env)
    if completed.returncode:
        raise SystemExit(f"{' '.join(command)} failed with status {completed.returncode}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="rounds after round 0 (default 3)")
    parser.add_argument("--keep", default=None, help="build in this folder and keep it (default: a temporary one)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    scratch = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="articulate-loop-"))
    for name in project_files():
        (scratch / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, scratch / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["DVC_NO_ANALYTICS"] = "1"
    try:
        subprocess.run(["git", "init", "-q"], cwd=scratch, check=True)
        seconds0 = run(["articulate", "repro", *args.overrides], scratch, env)
        run(["articulate", "loop", "--rounds", str(args.rounds), "--report", "loop.json", *args.overrides], scratch, env)
        report = json.loads((scratch / "loop.json").read_text())
        rows = [entry["metrics"] for entry in report]
        times = [seconds0] + [entry["seconds"] for entry in report[1:]]
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    print()
    print(f"{'round':>5} {'class_acc':>9} {'parts':>7} {'mean IoU':>8} {'purity':>7} {'NMI':>6} {'actions':>7} "
          f"{'concepts':>8} {'seconds':>8}")
    for r, (m, seconds) in enumerate(zip(rows, times)):
        iou = m.get("mean_concept_iou")
        print(f"{r:>5} {m['class_acc']:>9.4f} {m['parts_discovered']:>3}/{m['parts_total']:<3} "
              f"{'-' if iou is None else f'{iou:.3f}':>8} {m['atlas_purity']:>7.3f} {m['atlas_nmi']:>6.3f} "
              f"{m['human_actions']:>7} {m['n_concepts']:>8} {seconds:>8.0f}")
    last = rows[-1]
    nmi = [m["atlas_nmi"] for m in rows]
    aims = {
        f"parts discovered by round {args.rounds} >= {PARTS_AIM:.0%}": last["parts_discovered"] >= PARTS_AIM * last["parts_total"],
        f"mean concept IoU >= {IOU_AIM}": (last.get("mean_concept_iou") or 0) >= IOU_AIM,
        "atlas NMI rising round over round": all(b > a for a, b in zip(nmi, nmi[1:])),
        f"one round (labeling + dvc repro) within {ROUND_SECONDS_AIM:.0f} s": max(times[1:]) <= ROUND_SECONDS_AIM,
    }
    print("(round 0's time includes generating the data and training the base model)")
    for aim, met in aims.items():
        print(f"aim: {aim}: {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

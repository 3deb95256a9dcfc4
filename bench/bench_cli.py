"""Benchmark: how long the ``articulate`` command takes to answer.

Runs each command a few times as a new process (as a person types it) and prints the median and the worst
wall time, beside the bare Python start-up measured in the same run (the baseline: no command can beat it).
The aim: ``--help`` and ``concepts list`` under 1 s.

    python bench/bench_cli.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wall_times(args: list[str], repeats: int) -> list[float]:
    """Seconds each of ``repeats`` runs of ``args`` took, from the project folder."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(args, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    store = Path(tempfile.mkdtemp()) / "concepts.yaml"
    command = [sys.executable, "-m", "articulate.cli"]
    cases = {
        "python -c pass (baseline)": [sys.executable, "-c", "pass"],
        "articulate --help": [*command, "--help"],
        "articulate concepts --help": [*command, "concepts", "--help"],
        "articulate concepts list": [*command, "concepts", "-o", f"paths.concepts={store}", "list"],
    }
    print(f"load average {os.getloadavg()[0]:.1f}; {args.repeats} runs each")
    print(f"{'command':32s} {'median s':>9s} {'worst s':>8s} {'x baseline':>10s}")
    baseline = None
    for name, case in cases.items():
        times = wall_times(case, args.repeats)
        median = statistics.median(times)
        baseline = baseline or median
        print(f"{name:32s} {median:9.3f} {max(times):8.3f} {median / baseline:10.1f}")


if __name__ == "__main__":
    main()

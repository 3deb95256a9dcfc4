"""Benchmark: the base model on the configured dataset (by default the generated one), as a user runs it.

Runs the data and train_base stages in a scratch copy of the project (so the project's own store and outputs are
untouched) and prints the time of each and the test accuracy. Target (the default data): at least 95% test
accuracy within 5 minutes of training on a 2-core CPU. Any data works, e.g. ``data=quickdraw
data.source.folder=DIR`` (an absolute folder: the stages run in the scratch copy).

    python bench/bench_train_base.py [hydra overrides]
    python bench/bench_train_base.py experiment=tiny trainer.max_epochs=1    # the smallest run
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
TARGET_ACC, TARGET_SECONDS = 0.95, 300.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. data=quickdraw data.source.folder=DIR")
    overrides = parser.parse_args(argv).overrides
    with tempfile.TemporaryDirectory(prefix="articulate-bench-") as scratch:
        project = Path(scratch)
        for name in ("conf", "pipeline"):
            shutil.copytree(ROOT / name, project / name, ignore=shutil.ignore_patterns("__pycache__"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
        times = {}
        for stage in ("data", "train_base"):
            start = time.perf_counter()
            completed = subprocess.run([sys.executable, "-m", f"pipeline.stages.{stage}", *overrides], cwd=project, env=env)
            times[stage] = time.perf_counter() - start
            if completed.returncode:
                print(f"stage {stage} failed with status {completed.returncode}")
                return 1
        info = json.loads((project / "models/base/info.json").read_text())
    acc = info["test_acc"]
    print()
    print(f"{'data stage (generate or read, split, write)':45s} {times['data']:8.1f} s")
    print(f"{'train_base stage (train, test, register)':45s} {times['train_base']:8.1f} s")
    print(f"{'test accuracy':45s} {acc:8.4f}")
    ok = acc >= TARGET_ACC and times["train_base"] <= TARGET_SECONDS
    print(f"target: accuracy >= {TARGET_ACC} within {TARGET_SECONDS:.0f} s of training: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

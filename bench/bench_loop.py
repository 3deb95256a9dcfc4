"""Benchmark: does the loop work? Round 0 and N rounds with the simulated artist, against the supervised ceiling.

In a scratch copy of the project (the project's own outputs, concept store and MLflow store are untouched):
`articulate repro` builds round 0, then `bench/bench_ceiling.py` trains the fully supervised per-part head on
the atlas layer of the same base model (the ceiling: every train position labelled with its true part), then
`articulate loop --rounds N` lets the simulated artist label each new atlas and `dvc repro` build the next
round. Prints the ceiling's line, then per round: class_acc, parts_discovered out of the true parts, mean
concept IoU, atlas_purity, atlas_nmi, layer_nmi, human_actions and wall time, then the loop's aims:

- parts discovered by round N >= 80% of the parts the ceiling localises at IoU >= 0.3;
- mean concept IoU in round N >= 0.8 x the ceiling's mean IoU over the same parts (those the concepts match);
- NMI against true parts rising every round, and >= 0.45 by round N: ``layer_nmi``, the atlas clustering of an
  attribution-weighted sample, since an atlas weighted toward unexplained positions shows a different sample each
  round (its own ``atlas_nmi`` is printed beside it);
- class accuracy within 1 point of the base in every round; at most 150 human actions a round;
- one round (labeling + finetune + extract + atlas + evaluate) within 5 minutes;
- the four stages that build a round (each process's start included, timed from DVC's lines
  around them) within 3 minutes, in every round whose four stages ran (not restored from DVC's run cache).

IoU is the evaluate stage's (over the ink pixels, the maps upsampled; test split), for the ceiling too. Run it on
the default data and on a second generated dataset, so nothing is tuned to one::

    python bench/bench_loop.py [--rounds 3] [--keep DIR] [--no-ceiling | --ceiling JSON] [--json OUT] [overrides]
    python bench/bench_loop.py seed=1 'data.source.classes=[cat,bird,fish,car,house,face]'

Comparing settings of the rounds (the artist, fine-tuning) on the same round 0: ``--from DIR`` starts from a folder
an earlier run kept (``--keep``, same data and model settings): its data, base model and MLflow store are copied,
its rounds and concepts are not, and round 0's own stages (finetune, extract, atlas, evaluate) run again (about
three minutes instead of generating the data and training the base model)::

    python bench/bench_loop.py --from /tmp/loop-default --ceiling ceiling.json labeling.artist.split=map

Any data the stages read works the same way (Hydra overrides): the smallest run, round 0 and one round of the tiny
preset on a folder of Quick, Draw! ndjson files whose drawings name their parts (a few minutes)::

    python bench/bench_loop.py --rounds 1 --no-ceiling experiment=tiny data=quickdraw data.source.folder=DIR

The simulated artist is an oracle of true parts by default; a fallible one is an override, and the header says
which one labelled (``labeling.artist.noise``: the share of wrong judgments; ``labeling.artist.synonyms``)::

    python bench/bench_loop.py --from /tmp/loop-default --ceiling ceiling.json labeling.artist.noise=0.1

With ``labeling.artist.attributes=true`` the artist also names drawing attributes (drawing-level concepts such as
"facing left"); each round's are printed with their AP on the evaluated split against the attribute value they
match best, and the aim is at least three attributes at AP >= 0.9::

    python bench/bench_loop.py --from /tmp/loop-default --no-ceiling labeling.artist.attributes=true

DVC's run cache restores a round whose labels and settings an earlier run already built (its stages are then not
timed); ``--no-run-cache`` builds them again.
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
PARTS_AIM, IOU_AIM, NMI_AIM, ACC_DROP_AIM, ACTIONS_AIM, ROUND_SECONDS_AIM = 0.8, 0.8, 0.45, 0.01, 150, 300.0
#: With labeling.artist.attributes: this many attributes, each with a drawing-level concept of at least this AP.
ATTRIBUTES_AIM, DRAWING_AP_AIM = 3, 0.9
#: The stages that build a round, and the aim for them together (each process's start included).
BUILD_STAGES, STAGES_SECONDS_AIM = ("finetune", "extract", "atlas", "evaluate"), 180.0


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


def ceiling(scratch: Path, env: dict[str, str], overrides: list[str]) -> dict | None:
    """The supervised ceiling of the round-0 base model (bench_ceiling's fine-tuned variant), or None."""
    out = scratch / "ceiling.json"
    command = [sys.executable, str(ROOT / "bench" / "bench_ceiling.py"), "--workdir", str(scratch / "ceiling"),
               "--model", str(scratch / "models" / "base" / "model.pt"), "--variants", "finetuned",
               "--json", str(out), *overrides]
    run(command, ROOT, env)
    return json.loads(out.read_text())["results"]["finetuned"]["pixel"]


# What --from copies of an earlier run: round 0's inputs, not its rounds (models/round_*, ... and the concepts).
REUSED = ("data", "models/base", "mlflow.db", "mlartifacts", ".dvc", "dvc.lock")


def reuse(earlier: Path, scratch: Path) -> None:
    """Copy the data, base model and MLflow store of an earlier kept run into ``scratch``."""
    missing = [name for name in ("data", "models/base", "dvc.lock") if not (earlier / name).exists()]
    if missing:
        raise SystemExit(f"--from {earlier}: not a kept loop folder (no {', '.join(missing)}); make one with --keep")
    for name in REUSED:
        source, target = earlier / name, scratch / name
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        elif source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def artist_header(overrides: list[str]) -> str:
    """The line that says which simulated artist labels the rounds: its judgments' noise, synonyms, budget.

    Args:
        overrides: The user's Hydra overrides.

    Returns:
        One line.
    """
    from pipeline.config import compose

    artist = compose(overrides, ROOT / "conf").labeling.artist
    return (f"simulated artist: noise {float(artist.noise):g} (share of wrong judgments), synonyms "
            f"{'on' if artist.synonyms else 'off'}, seed {int(artist.seed)}, {int(artist.max_actions)} actions a "
            f"session, {int(artist.budget)} exemplars a cluster")


def anchored(overrides: list[str]) -> list[str]:
    """``overrides`` with the folders of real drawings made absolute: the scratch copy runs elsewhere, and holds none
    of the git-ignored data (``data/quickdraw``).

    Args:
        overrides: The user's Hydra overrides.

    Returns:
        Them, a relative ``data.source.folder`` made absolute, and ``paths.quickdraw`` and
        ``paths.quickdraw_fetched`` added as absolute paths where the user did not set them.
    """
    sys.path.insert(0, str(ROOT))
    from omegaconf import OmegaConf

    from pipeline.config import compose

    cfg = compose(overrides, ROOT / "conf")
    keys = {o.split("=", 1)[0].lstrip("+~") for o in overrides}
    absolute = [f"data.source.folder={Path(o.split('=', 1)[1]).resolve()}" if o.startswith("data.source.folder=")
                else o for o in overrides]
    return absolute + [f"{key}={(ROOT / str(OmegaConf.select(cfg, key))).resolve()}"  # relative to the project
                       for key in ("paths.quickdraw", "paths.quickdraw_fetched") if key not in keys]


def drawing_concepts(rows: list[dict]) -> set[str]:
    """Print each round's drawing-level concepts (labeling.artist.attributes) with their AP against the attribute
    value they match best; returns the attributes some concept of the last round matches at DRAWING_AP_AIM."""
    for r, m in enumerate(rows):
        entries = m.get("drawing_concepts") or []
        if entries:
            print(f"round {r}'s drawing-level concepts: " + "; ".join(
                f"{e['name']} AP {'-' if e['ap'] is None else format(e['ap'], '.3f')} ({e['matched'] or 'no attribute'})"
                for e in entries))
    last = rows[-1].get("drawing_concepts") or []
    return {e["matched"].split("=")[0] for e in last if e["matched"] and (e["ap"] or 0) >= DRAWING_AP_AIM}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3, help="rounds after round 0 (default 3)")
    parser.add_argument("--keep", default=None, help="build in this folder and keep it (default: a temporary one)")
    parser.add_argument("--no-ceiling", action="store_true", help="skip the supervised ceiling (its aims too)")
    parser.add_argument("--ceiling", type=Path, default=None,
                        help="the --json of a bench_ceiling.py run on the same data and model, instead of a new one")
    parser.add_argument("--json", type=Path, default=None, help="write the rounds and the ceiling to this file")
    parser.add_argument("--from", dest="earlier", type=Path, default=None,
                        help="reuse the data and base model of a folder an earlier run kept (--keep)")
    parser.add_argument("--no-run-cache", action="store_true",
                        help="build every round's stages even where DVC's run cache holds them (to time them)")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    args.overrides = anchored(args.overrides)
    print(artist_header(args.overrides), flush=True)
    scratch = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="articulate-loop-"))
    for name in project_files():
        (scratch / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, scratch / name)
    if args.earlier:  # after the project's files: its dvc.lock is the one that matches the reused outputs
        reuse(args.earlier, scratch)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["DVC_NO_ANALYTICS"] = "1"
    env["PYTHONPATH"] = str(scratch)  # the copy's code, also where the installed package is another checkout's
    top = None
    try:
        subprocess.run(["git", "init", "-q"], cwd=scratch, check=True)
        seconds0 = run(["articulate", "repro", *args.overrides], scratch, env)
        if args.ceiling:
            top = json.loads(args.ceiling.read_text())["results"]["finetuned"]["pixel"]
        elif not args.no_ceiling:
            top = ceiling(scratch, env, args.overrides)
        run(["articulate", "loop", "--rounds", str(args.rounds), "--report", "loop.json", *args.overrides,
             *(["--dvc-args", "--no-run-cache"] if args.no_run_cache else [])], scratch, env)
        report = json.loads((scratch / "loop.json").read_text())
        rows = [entry["metrics"] for entry in report]
        times = [seconds0] + [entry["seconds"] for entry in report[1:]]
        stages = [entry.get("stage_seconds", {}) for entry in report]
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    print()
    print(f"{'round':>8} {'class_acc':>9} {'parts':>7} {'mean IoU':>8} {'purity':>7} {'NMI':>6} {'layerNMI':>8} "
          f"{'actions':>7} {'concepts':>8} {'seconds':>8}")
    if top is not None:
        print(f"{'ceiling':>8} {'':>9} {top['parts_discovered']:>3}/{top['parts_total']:<3} "
              f"{top['mean_part_iou']:>8.3f}   (fully supervised head, every train position labelled)")
    for r, (m, seconds) in enumerate(zip(rows, times)):
        iou = m.get("mean_concept_iou")
        print(f"{r:>8} {m['class_acc']:>9.4f} {m['parts_discovered']:>3}/{m['parts_total']:<3} "
              f"{'-' if iou is None else f'{iou:.3f}':>8} {m['atlas_purity']:>7.3f} {m['atlas_nmi']:>6.3f} "
              f"{m['layer_nmi']:>8.3f} {m['human_actions']:>7} {m['n_concepts']:>8} {seconds:>8.0f}")
    built = [(r, {k: v for k, v in st.items() if k in BUILD_STAGES}) for r, st in enumerate(stages)]
    built = [(r, st) for r, st in built if len(st) == len(BUILD_STAGES)]  # rounds whose four stages all ran
    for r, st in built:
        print(f"round {r}'s stages: " + ", ".join(f"{k} {st[k]:.0f} s" for k in BUILD_STAGES) +
              f" = {sum(st.values()):.0f} s")
    named = drawing_concepts(rows)
    last = rows[-1]
    nmi = [m["layer_nmi"] for m in rows]  # evaluate gives the atlas NMI where the atlas is that sample
    aims = {
        f"layer NMI rising round over round, >= {NMI_AIM} by round {args.rounds}":
            all(b > a for a, b in zip(nmi, nmi[1:])) and nmi[-1] >= NMI_AIM,
        f"class accuracy within {ACC_DROP_AIM:.0%} of the base in every round":
            all(m["class_acc"] >= rows[0]["class_acc"] - ACC_DROP_AIM for m in rows),
        f"at most {ACTIONS_AIM} human actions a round": all(m["human_actions"] <= ACTIONS_AIM for m in rows),
        f"one round (labeling + dvc repro) within {ROUND_SECONDS_AIM:.0f} s":
            bool(times[1:]) and max(times[1:]) <= ROUND_SECONDS_AIM,
    }
    if named:
        aims[f"at least {ATTRIBUTES_AIM} attributes with a drawing-level concept of AP >= {DRAWING_AP_AIM} on the "
             f"{rows[-1].get('split', 'test')} split"] = len(named) >= ATTRIBUTES_AIM
    if built:
        aims[f"one round's stages ({', '.join(BUILD_STAGES)}) within {STAGES_SECONDS_AIM:.0f} s"] = \
            max(sum(st.values()) for _, st in built) <= STAGES_SECONDS_AIM
    if top is not None:
        need = PARTS_AIM * top["parts_discovered"]
        matched = [c["matched_part"] for c in last.get("concepts", []) if c.get("matched_part")]
        reference = [top["per_part"][p] for p in matched if p in top["per_part"]]
        ceiling_mean = sum(reference) / len(reference) if reference else 0.0
        aims[f"parts discovered by round {args.rounds} >= {PARTS_AIM:.0%} of the ceiling's "
             f"{top['parts_discovered']} ({last['parts_discovered']} >= {need:.1f})"] = last["parts_discovered"] >= need
        aims[f"mean concept IoU >= {IOU_AIM} x the ceiling's {ceiling_mean:.3f} over the same parts"] = \
            (last.get("mean_concept_iou") or 0) >= IOU_AIM * ceiling_mean
    print(f"(round 0's time includes {'its stages on the reused base model' if args.earlier else 'generating the data and training the base model'})")
    for aim, met in aims.items():
        print(f"aim: {aim}: {'met' if met else 'NOT met'}")
    if args.json:
        args.json.write_text(json.dumps({"overrides": args.overrides, "ceiling": top, "rounds": rows,
                                         "seconds": times, "stage_seconds": stages, "aims": aims},
                                        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

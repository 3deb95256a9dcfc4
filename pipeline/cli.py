"""Command-line entry points: the ``articulate`` command and the wrapper every stage's ``__main__`` uses.

A user's mistake (an :class:`~pipeline.errors.ArticulateError`) is printed as one line, ``error: ...``, with
exit status 2 and no traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from pipeline.errors import ArticulateError

EXIT_USER_ERROR = 2


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    # Third-party chatter that says nothing to a user of this pipeline.
    for name in ("alembic", "mlflow.store.db.utils", "lightning.pytorch.utilities.rank_zero", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*GPU available but not used.*")
    warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\)` is deprecated.*")
    warnings.filterwarnings("ignore", message="No complete tensor found in the group")


def setup_torch(threads: int) -> None:
    """Use a deliberate number of CPU threads: oversubscribing small shared machines is very slow."""
    import torch

    count = threads if threads > 0 else (os.cpu_count() or 1)
    torch.set_num_threads(count)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass


def guarded(action: Callable[[], Any]) -> int:
    """Run ``action``; report an ArticulateError as one line and return the exit status."""
    try:
        action()
    except ArticulateError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


def stage_main(run: Callable[[Any], Any], argv: Sequence[str] | None = None) -> int:
    """The ``__main__`` of a stage: compose the config from the command line, then ``run(cfg)``."""
    from pipeline.config import stage_config

    configure_logging()

    def action() -> None:
        cfg = stage_config(sys.argv[1:] if argv is None else argv)
        setup_torch(int(cfg.threads))
        run(cfg)

    return guarded(action)


def _configure(args: argparse.Namespace) -> None:
    from pipeline.config import PARAMS_FILE, write_params

    write_params(args.overrides)
    print(f"wrote {PARAMS_FILE} from conf/ with overrides: {' '.join(args.overrides) or 'none'}")


def _repro(args: argparse.Namespace) -> None:
    from pipeline.loop import dvc_repro

    _configure(args)
    dvc_repro(args.dvc_args)


def _loop(args: argparse.Namespace) -> None:
    from pipeline.config import compose
    from pipeline.loop import run_loop, table

    _configure(args)
    results = run_loop(compose(args.overrides), args.rounds, dvc_args=args.dvc_args)
    print(f"\n{table(results)}")
    if args.report:
        from dataclasses import asdict

        from pipeline.io import atomic_write_text

        atomic_write_text(args.report, json.dumps([asdict(r) for r in results], indent=2) + "\n")


def _show(args: argparse.Namespace) -> None:
    from omegaconf import OmegaConf

    from pipeline.config import compose

    print(OmegaConf.to_yaml(compose(args.overrides)), end="")


def _layers(args: argparse.Namespace) -> None:
    from pipeline.config import compose
    from pipeline.models.build import build_net, input_spec
    from pipeline.models.layers import layer_output_shapes

    cfg = compose(args.overrides)
    net = build_net(cfg.model, num_classes=args.num_classes)
    spec = input_spec(cfg.model)
    shapes = layer_output_shapes(net, (1, spec.channels, spec.size, spec.size))
    print(f"{'layer (module path)':40s} output shape for a {spec.size}x{spec.size} input; atlas layer: {cfg.model.layer}")
    for name, shape in shapes.items():
        marker = "  <- model.layer" if name == cfg.model.layer else ""
        print(f"{name:40s} {tuple(shape)}{marker}")


def _ui(args: argparse.Namespace) -> None:
    from pipeline.config import compose
    from pipeline.tracking import setup, tracking_uri

    cfg = compose([])
    uri = tracking_uri(cfg)
    experiment = setup(cfg)  # marks an experiment made before the kind tag as model training
    beside = os.path.join(os.path.dirname(sys.executable), "mlflow")  # this environment's MLflow first
    mlflow = beside if os.path.isfile(beside) else shutil.which("mlflow") or "mlflow"
    # MLflow 3's page picks GenAI or model training from ?workflowType= (else the browser's last choice).
    print(f"MLflow UI on http://{args.host}:{args.port}/#/experiments/{experiment}/runs?workflowType=machine_learning "
          f"for {uri}", flush=True)
    # Lean: one worker, and no job runner (its huey workers serve GenAI jobs this project never submits).
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    subprocess.run([mlflow, "ui", "--backend-store-uri", uri, "--host", args.host, "--port", str(args.port),
                    "--workers", "1"], env=env, check=False)


def _champion(args: argparse.Namespace) -> None:
    from pipeline.config import compose
    from pipeline.tracking import promote_champion

    cfg = compose(args.overrides)
    version = promote_champion(cfg, args.round)
    print(f"{cfg.mlflow.registered_model} version {version} (round {args.round}) is now the champion: "
          f"load it with mlflow.pytorch.load_model('models:/{cfg.mlflow.registered_model}@champion')")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="articulate", description="Articulate: retrain sketch models on the concepts people name in their activation atlases.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("configure", help="compose conf/ (+ overrides) into params.yaml for DVC")
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. experiment=tiny trainer.max_epochs=3")
    p.set_defaults(action=_configure)

    p = sub.add_parser("repro", help="configure, then run the DVC pipeline (dvc repro)")
    p.add_argument("overrides", nargs="*", help="Hydra overrides")
    p.add_argument("--dvc-args", nargs=argparse.REMAINDER, default=[], help="arguments passed on to dvc repro")
    p.set_defaults(action=_repro)

    p = sub.add_parser("loop", help="rounds unattended: the simulated artist labels, then dvc repro, N times")
    p.add_argument("overrides", nargs="*", help="Hydra overrides")
    p.add_argument("--rounds", type=int, default=3, help="rounds to add after the latest built (default 3)")
    p.add_argument("--report", default=None, help="also write each round's metrics and seconds to this JSON file")
    p.add_argument("--dvc-args", nargs=argparse.REMAINDER, default=[], help="arguments passed on to dvc repro")
    p.set_defaults(action=_loop)

    p = sub.add_parser("show", help="print the composed config")
    p.add_argument("overrides", nargs="*")
    p.set_defaults(action=_show)

    p = sub.add_parser("layers", help="list the model's layers (module paths) and their output shapes")
    p.add_argument("overrides", nargs="*")
    p.add_argument("--num-classes", type=int, default=10)
    p.set_defaults(action=_layers)

    from pipeline.featurevis.cli import add_commands as add_featurevis_commands

    add_featurevis_commands(sub)

    from labeling.cli import add_commands as add_labeling_commands

    add_labeling_commands(sub)

    p = sub.add_parser("champion", help="promote a round's registered model to the alias 'champion'")
    p.add_argument("round", type=int, help="the round whose model becomes the champion")
    p.add_argument("overrides", nargs="*", help="Hydra overrides (e.g. experiment=tiny for its MLflow store)")
    p.set_defaults(action=_champion)

    p = sub.add_parser("ui", help="open the MLflow UI on the project's tracking store")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5000)
    p.set_defaults(action=_ui)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    return guarded(lambda: args.action(args))


if __name__ == "__main__":
    raise SystemExit(main())

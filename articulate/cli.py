"""The ``articulate`` command: one subcommand a job, each importing what it needs only when it runs.

``--help`` and the light commands (``concepts list``) import no torch, Lightning or MLflow. A user's mistake
is printed as one line (see :mod:`pipeline.entry`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

from pipeline.entry import EXIT_USER_ERROR, configure_logging, guarded, setup_torch

__all__ = ["EXIT_USER_ERROR", "build_parser", "configure_logging", "guarded", "main", "setup_torch"]


def _configure(args: argparse.Namespace) -> None:
    from pipeline.config import PARAMS_FILE, write_params

    write_params(args.overrides)
    print(f"wrote {PARAMS_FILE} from conf/ with overrides: {' '.join(args.overrides) or 'none'}")


def _repro(args: argparse.Namespace) -> None:
    from articulate.loop import dvc_repro

    _configure(args)
    dvc_repro(args.dvc_args)


def _loop(args: argparse.Namespace) -> None:
    from pipeline.config import compose
    from articulate.loop import run_loop, table

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
    from pipeline.models.build import build_net, input_spec, model_class_names
    from pipeline.models.layers import layer_output_shapes

    cfg = compose(args.overrides)
    own = model_class_names(cfg.model)  # a pretrained model is built with its own classes
    net = build_net(cfg.model, num_classes=len(own) if own else args.num_classes)
    spec = input_spec(cfg.model)
    shapes = layer_output_shapes(net, (1, spec.channels, spec.size, spec.size))
    print(f"{'layer (module path)':40s} output shape for a {spec.size}x{spec.size} input; atlas layer: {cfg.model.layer}")
    for name, shape in shapes.items():
        marker = "  <- model.layer" if name == cfg.model.layer else ""
        print(f"{name:40s} {tuple(shape)}{marker}")
    if cfg.model.layer not in shapes:
        from pipeline.models.layers import suggest_layer

        suggestion = suggest_layer(shapes)
        print(f"model.layer={cfg.model.layer} is not a layer of this model"
              + (f"; a likely atlas layer: {suggestion} (model.layer={suggestion})" if suggestion else ""))


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

    from articulate.commands.featurevis import add_commands as add_featurevis_commands

    add_featurevis_commands(sub)

    from articulate.commands.labeling import add_commands as add_labeling_commands

    add_labeling_commands(sub)

    from articulate.commands.coach import add_commands as add_coach_commands

    add_coach_commands(sub)

    from articulate.commands.editing import add_commands as add_editing_commands

    add_editing_commands(sub)

    from articulate.commands.data import add_commands as add_data_commands

    add_data_commands(sub)

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

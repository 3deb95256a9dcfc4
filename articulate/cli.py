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

        from core.io import atomic_write_text

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
    import tempfile
    from pathlib import Path

    from articulate.mlflow_app import APP_NAME, HOME_ENV, plugin_folder, runs_fragment
    from pipeline.config import compose
    from core.errors import ArticulateError
    from pipeline.tracking import setup, tracking_uri

    cfg = compose([])
    uri = tracking_uri(cfg)
    experiment = setup(cfg, repoint=False)  # marks an experiment made before the kind tag as model training
    beside = os.path.join(os.path.dirname(sys.executable), "mlflow")  # this environment's MLflow first
    mlflow = beside if os.path.isfile(beside) else shutil.which("mlflow") or "mlflow"
    fragment = runs_fragment(experiment)
    print(f"MLflow UI on http://{args.host}:{args.port}/{fragment} for {uri} (its root / opens there too)",
          flush=True)
    with tempfile.TemporaryDirectory(prefix="articulate-ui-") as plugins:
        # MLflow finds the app (its own, with the root sent to the runs) through an entry point on the path.
        path = [str(plugin_folder(Path(plugins))), str(Path(__file__).resolve().parents[1]),
                os.environ.get("PYTHONPATH", "")]
        # Lean: one worker, and no job runner (its huey workers serve GenAI jobs this project never submits).
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", HOME_ENV: fragment,
               "PYTHONPATH": os.pathsep.join(p for p in path if p)}
        status = serve_in_group([mlflow, "ui", "--backend-store-uri", uri, "--host", args.host, "--port",
                                 str(args.port), "--workers", "1", "--app-name", APP_NAME], env)
    if status:
        raise ArticulateError(f"the MLflow server stopped with status {status} (its output is above)")


class _Stopped(Exception):
    """This process was told to stop (SIGTERM)."""


def serve_in_group(command: Sequence[str], env: dict[str, str], grace_s: float = 30.0) -> int:
    """Run a server in a process group of its own until it exits, or until this process is stopped (SIGTERM, or
    Ctrl-C's SIGINT), then end the whole group: a server's launcher (MLflow's) starts workers (uvicorn) that
    would outlive it and keep the port.

    Args:
        command: The server's command line.
        env: Its environment.
        grace_s: Seconds the group has to stop after SIGTERM before it is killed.

    Returns:
        The server's exit status, 0 when this process was stopped.
    """
    import signal

    def stop(signum: int, _frame: object) -> None:
        raise _Stopped(signum)

    process = subprocess.Popen(list(command), env=env, start_new_session=True)
    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        return process.wait()
    except (_Stopped, KeyboardInterrupt):
        return 0
    finally:
        try:
            _end_group(process, grace_s)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def _end_group(process: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM to every process of ``process``'s group, then SIGKILL to those still there after ``grace_s``."""
    import signal
    import time

    def signal_group(signum: int) -> bool:
        try:
            os.killpg(process.pid, signum)
        except ProcessLookupError:  # none left
            return False
        return True

    if not signal_group(signal.SIGTERM):
        process.wait()
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if process.poll() is not None and not signal_group(0):
            return
        time.sleep(0.1)
    signal_group(signal.SIGKILL)
    process.wait()


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

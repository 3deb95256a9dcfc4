"""MLflow tracking: where runs go, one run per stage, the resolved config, figures and the model registry.

The store is SQLite in the project folder unless ``MLFLOW_TRACKING_URI`` (or ``mlflow.tracking_uri`` in the
config) says otherwise. MLflow's file store is not used: MLflow 3 refuses it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

# MLflow's telemetry is switched off by the package (pipeline/__init__.py), before anything imports mlflow.
import mlflow
from mlflow.entities import Metric, RunStatus
from mlflow.models.model import ModelInfo
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

from pipeline.config import flatten, to_container

if TYPE_CHECKING:  # torch only to log a model: `articulate ui` and the round tags need not import it
    import numpy as np
    import torch

log = logging.getLogger(__name__)

DEFAULT_STORE = "mlflow.db"
# MLflow 3 shows an experiment of unknown kind as a GenAI one (traces, tokens, cost); this tag makes it a
# model-training experiment, which opens on its runs table.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"
# MLflow caps one param value at 6000 characters and a batch at 100 params.
_PARAM_VALUE_LIMIT = 500


def tracking_uri(cfg: DictConfig) -> str:
    """The tracking URI: ``$MLFLOW_TRACKING_URI``, else ``mlflow.tracking_uri``, else ``sqlite:///<project>/mlflow.db``."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or cfg.mlflow.tracking_uri
    return uri or f"sqlite:///{(Path.cwd() / DEFAULT_STORE).as_posix()}"


def setup(cfg: DictConfig, *, repoint: bool = True) -> str:
    """Point MLflow at the store and make sure the experiment exists, marked as model training.

    Args:
        cfg: The composed config.
        repoint: Where the store is the project's own (a SQLite file in the project folder) and its experiment
            records another artifact folder than ``mlflow.artifact_location`` (the project was copied or moved, or
            the setting changed), point the experiment at the project's folder (:func:`repoint_artifacts`).

    Returns:
        The experiment's id.
    """
    user_uri = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(tracking_uri(cfg))
    # MLflow 3 also writes the URI into $MLFLOW_TRACKING_URI, where it would outrank the next stage's config in this
    # process (tracking_uri reads the variable first, as the user's own choice): put the variable back as it was.
    if user_uri is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = user_uri
    client = MlflowClient()
    name = cfg.mlflow.experiment
    experiment = client.get_experiment_by_name(name)
    artifacts = artifact_uri(cfg)
    if experiment is None:
        try:
            return client.create_experiment(name, artifact_location=artifacts,
                                            tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
        except mlflow.exceptions.MlflowException:  # another process created it in between
            experiment = client.get_experiment_by_name(name)
    uri = tracking_uri(cfg)
    if repoint and experiment.artifact_location != artifacts and _project_store(uri):
        repoint_artifacts(uri, experiment.experiment_id, experiment.artifact_location, artifacts,
                          moved=_moved_with_project(experiment.artifact_location, cfg))
    if EXPERIMENT_KIND_TAG not in experiment.tags:  # made before the tag was set, or by someone else
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return experiment.experiment_id


def artifact_uri(cfg: DictConfig) -> str:
    """Where the experiment's artifacts go: ``mlflow.artifact_location``, relative to the project folder."""
    return (Path.cwd() / cfg.mlflow.artifact_location).resolve().as_uri()


def _project_store(uri: str) -> bool:
    """Whether ``uri`` is a SQLite store inside the project folder, which travels with the project."""
    if not uri.startswith("sqlite:///"):
        return False
    return Path(uri.removeprefix("sqlite:///")).resolve().is_relative_to(Path.cwd().resolve())


def _moved_with_project(recorded: str, cfg: DictConfig) -> bool:
    """Whether ``recorded`` is the project-relative artifact folder of the same project elsewhere: the project was
    copied or moved (its store and artifact folder together), not given another artifact folder."""
    relative = Path(str(cfg.mlflow.artifact_location))
    return not relative.is_absolute() and recorded.rstrip("/").endswith("/" + relative.as_posix().strip("/"))


def repoint_artifacts(uri: str, experiment_id: str, old: str, new: str, *, moved: bool) -> None:
    """Point an experiment of a SQLite store at its artifact folder ``new`` (MLflow records an absolute folder and
    offers no call to change it).

    New runs then write into ``new``. When the project was copied or moved (``moved``: ``old`` is the same
    project-relative folder elsewhere), every record of the store that names a file under ``old`` (runs, logged
    models, model versions) is re-pointed too, so a copy reads and writes its own artifacts, never the original's.

    Args:
        uri: The tracking URI of a SQLite store.
        experiment_id: The experiment.
        old: Its recorded artifact location (a ``file://`` URI).
        new: The project's artifact location (a ``file://`` URI).
        moved: Also re-point every record under ``old``.
    """
    if not old.startswith("file://"):
        return
    prefixes = [(old.rstrip("/"), new.rstrip("/"))]
    prefixes.append((prefixes[0][0].removeprefix("file://"), prefixes[0][1].removeprefix("file://")))
    with contextlib.closing(sqlite3.connect(uri.removeprefix("sqlite:///"), timeout=60)) as db, db:
        db.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?", (new, int(experiment_id)))
        if not moved:
            return
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [row[1] for row in db.execute(f'PRAGMA table_info("{table}")')
                       if any(kind in str(row[2]).upper() for kind in ("CHAR", "TEXT", "CLOB"))]
            for column, (before, after) in ((c, p) for c in columns for p in prefixes):
                db.execute(f'UPDATE "{table}" SET "{column}" = ? || substr("{column}", ?) '
                           f'WHERE "{column}" = ? OR substr("{column}", 1, ?) = ?',
                           (after, len(before) + 1, before, len(before) + 1, before + "/"))
    log.info("the project's artifacts are now in %s (were %s)", new, old)


def git_commit() -> str | None:
    """The current git commit of the project folder, when it is a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


ROUND_KIND = "round"


def concepts_hash(cfg: DictConfig) -> str:
    """A short hash of the concept store's concepts (not its version counters); ``none`` without a store."""
    from conceptstore.store import ConceptStore

    path = Path(cfg.paths.concepts or "")
    if not path.name or not path.is_file():
        return "none"
    return ConceptStore(path).state().content_hash()[:12]


def round_tags(cfg: DictConfig, round_: int | str) -> dict[str, str]:
    """The tags every run of a round carries: the round, the git commit and the concept store's hash."""
    tags = {"round": str(round_), "concepts_hash": concepts_hash(cfg)}
    commit = git_commit()
    if commit:
        tags["mlflow.source.git.commit"] = commit
    return tags


def round_parent_run(experiment_id: str, tags: Mapping[str, str]) -> str:
    """The id of the parent run of the round that ``tags`` (from :func:`round_tags`) describe, created on first use
    and marked running (its stages end it: :func:`stage_run`).

    One parent run per round and concept set: a round rebuilt from other concepts gets a new parent, a stage
    re-run with the same concepts joins the existing one.
    """
    client = MlflowClient()
    found = client.search_runs(
        [experiment_id], max_results=1, order_by=["attributes.start_time DESC"],
        filter_string=f"tags.kind = '{ROUND_KIND}' and tags.round = '{tags['round']}' "
                      f"and tags.concepts_hash = '{tags['concepts_hash']}'")
    if found:
        if found[0].info.status != RunStatus.to_string(RunStatus.RUNNING):
            client.update_run(found[0].info.run_id, status=RunStatus.to_string(RunStatus.RUNNING))
        return found[0].info.run_id
    return client.create_run(experiment_id, run_name=f"round {tags['round']}",
                             tags={**tags, "kind": ROUND_KIND}).info.run_id


@contextlib.contextmanager
def stage_run(cfg: DictConfig, stage: str, tags: Mapping[str, str] | None = None) -> Iterator[mlflow.ActiveRun]:
    """An MLflow run for one stage, holding the resolved config as params and as ``config.yaml``.

    A stage of a round (``tags`` has ``round``) runs as a child of that round's parent run
    (:func:`round_parent_run`) and carries the round's tags (round, git commit, concept store hash). The parent
    spans its stages: it starts with the round's first stage and each stage that ends ends it again (finished, or
    failed with a failed stage), so its duration is the round's.
    """
    experiment_id = setup(cfg)
    run_tags = {"stage": stage, "data": str(cfg.data.name), "model": str(cfg.model.name), **(tags or {})}
    if "round" in run_tags:
        shared = round_tags(cfg, run_tags["round"])  # one git call and one read of the concept store
        run_tags.update(shared)
        run_tags["mlflow.parentRunId"] = round_parent_run(experiment_id, shared)
    elif commit := git_commit():
        run_tags["mlflow.source.git.commit"] = commit
    parent = run_tags.get("mlflow.parentRunId")
    status = RunStatus.FAILED
    try:
        with mlflow.start_run(experiment_id=experiment_id, run_name=stage, tags=run_tags) as run:
            log_config(cfg)
            yield run
        status = RunStatus.FINISHED
    finally:
        if parent is not None:  # the round spans its stages: it started with the first, it ends with this one
            MlflowClient().set_terminated(parent, RunStatus.to_string(status), end_time=int(time.time() * 1000))


def log_to_round_run(metrics: Mapping[str, float], files: Mapping[Path, str]) -> str | None:
    """Log metrics and files (path -> artifact folder) to the round's parent run of the active stage run.

    Returns:
        The parent run's id, or None when the active run is not part of a round.
    """
    active = mlflow.active_run()
    parent = active.data.tags.get("mlflow.parentRunId") if active else None
    if parent is None:
        return None
    client = MlflowClient()
    now = int(time.time() * 1000)
    client.log_batch(parent, metrics=[Metric(key, value, now, 0) for key, value in metrics.items()])
    for path, folder in files.items():
        if Path(path).is_file():
            client.log_artifact(parent, str(path), folder or None)
    return parent


def save_figure(fig: Any, path: Path, *, dpi: int, artifact_dir: str | None = None) -> None:
    """Write a figure to ``path`` and log that file into the active MLflow run (under ``artifact_dir``).

    Rendered once: ``mlflow.log_figure`` would render the figure a second time (seconds for a large one).
    """
    fig.savefig(path, dpi=dpi)
    mlflow.log_artifact(str(path), artifact_dir)


def log_config(cfg: DictConfig) -> None:
    """Log the resolved config: every leaf as a param, and the whole tree as ``config.yaml``."""
    tree = to_container(cfg)
    mlflow.log_dict(tree, "config.yaml")
    params = {k: _short(v) for k, v in flatten(tree).items()}
    items = list(params.items())
    for start in range(0, len(items), 100):
        mlflow.log_params(dict(items[start:start + 100]))


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _PARAM_VALUE_LIMIT else text[: _PARAM_VALUE_LIMIT - 3] + "..."


def promote_champion(cfg: DictConfig, round_: int, alias: str = "champion") -> int:
    """Point the registered model's ``champion`` alias at round ``round_``'s version; returns the version.

    Raises:
        ConfigError: The round has no registered model.
    """
    from core.errors import ConfigError

    setup(cfg)
    name = str(cfg.mlflow.registered_model)
    client = MlflowClient()
    try:
        version = client.get_model_version_by_alias(name, f"round-{round_}")
    except mlflow.exceptions.MlflowException:
        raise ConfigError(f"no model '{name}' with alias round-{round_} in {tracking_uri(cfg)}: build that round "
                          "first (`dvc repro`)") from None
    client.set_registered_model_alias(name, alias, version.version)
    return int(version.version)


def register_model(model_uri: str, name: str, alias: str) -> int:
    """Register a logged model under ``name`` and point ``alias`` at the new version; returns the version."""
    version = mlflow.register_model(model_uri, name)
    client = MlflowClient()
    client.set_registered_model_alias(name, alias, version.version)
    return int(version.version)


def pip_requirements() -> list[str]:
    """Explicit requirements for the logged model: MLflow's inference of them takes many seconds."""
    import lightning
    import torch
    import torchvision

    return [f"torch=={torch.__version__.split('+')[0]}", f"torchvision=={torchvision.__version__.split('+')[0]}",
            f"lightning=={lightning.__version__}", f"mlflow=={mlflow.__version__}", "hydra-core", "numpy", "pillow"]


def log_torch_model(net: torch.nn.Module, example: np.ndarray, pip_requirements: list[str]) -> ModelInfo:
    """Log ``net`` as the run's ``model``: an exported graph (``pt2``, needs no project code to load) where
    torch.export can trace it, else a pickle that carries the ``pipeline`` package along.

    Args:
        net: The model, in eval mode.
        example: An input batch, used to trace the graph and as the model's input example.
        pip_requirements: Explicit requirements (MLflow's own inference of them takes many seconds).

    Returns:
        The logged model's info (``model_uri`` to register it).
    """
    try:
        return mlflow.pytorch.log_model(net, name="model", input_example=example, serialization_format="pt2",
                                        pip_requirements=pip_requirements)
    except Exception as err:  # noqa: BLE001 - torch.export rejects many user models, for many reasons
        log.warning("torch.export could not trace the model (%s); logging it as a pickle", str(err).splitlines()[0])
        package = str(Path(__file__).resolve().parent)
        return mlflow.pytorch.log_model(net, name="model", serialization_format="pickle",
                                        pip_requirements=pip_requirements, code_paths=[package])

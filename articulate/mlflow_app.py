"""The MLflow UI as ``articulate ui`` serves it: MLflow's own server, whose root opens the experiment's runs.

MLflow 3 opens on its GenAI home page (traces, prompts, an assistant); a researcher of this project wants the
runs of the experiment, one row a round. MLflow lets a plugin name the app its server runs (``mlflow ui
--app-name``, found through the ``mlflow.app`` entry point group): :func:`plugin_folder` writes such an entry
point for :func:`create_app`, which answers ``/`` with a page that goes to the experiment's runs table (in the
Model training view, which it also makes the browser's default) and passes every other request to MLflow.

This module imports nothing heavy: MLflow's launcher imports it to see that :func:`create_app` is a factory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

#: The variable that tells the server's worker where its root goes (the fragment of the runs page).
HOME_ENV = "ARTICULATE_MLFLOW_HOME"
#: The name ``mlflow ui --app-name`` is given.
APP_NAME = "articulate"
#: Where the UI keeps its GenAI / Model training choice (``useLocalStorage`` key ``mlflow.workflowType``,
#: version 1); set only when the browser has made no choice of its own.
WORKFLOW_KEY = "mlflow.workflowType_v1"

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def runs_fragment(experiment_id: str) -> str:
    """The UI's route of an experiment's runs table in the Model training view (MLflow's pages are routed by the
    URL's fragment)."""
    return f"#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def home_page(fragment: str) -> bytes:
    """The root's page: make Model training the UI's default view unless the browser chose one, then go to the
    runs table (``/?runs`` serves MLflow's own page, which reads the fragment)."""
    target = json.dumps("/?runs" + fragment)
    return (f"<!doctype html><meta charset=\"utf-8\"><title>MLflow</title><script>"
            f"try {{ if (localStorage.getItem({json.dumps(WORKFLOW_KEY)}) === null) "
            f"localStorage.setItem({json.dumps(WORKFLOW_KEY)}, {json.dumps(json.dumps('machine_learning'))}); }} "
            f"catch (e) {{}}\nlocation.replace({target});</script>"
            f"<a href={target}>the runs</a>").encode()


def with_home(app: ASGIApp, fragment: str) -> ASGIApp:
    """``app`` with its root (``GET /`` without a query) answered by :func:`home_page`."""
    page = home_page(fragment)

    async def serve(scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]) -> None:
        if (scope["type"] == "http" and scope["path"] == "/" and not scope.get("query_string")
                and scope["method"] in ("GET", "HEAD")):
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-store"),
                                    (b"content-length", str(len(page)).encode())]})
            await send({"type": "http.response.body", "body": page if scope["method"] == "GET" else b""})
            return
        await app(scope, receive, send)

    return serve


def create_app() -> ASGIApp:
    """MLflow's server app (FastAPI, with its Flask app inside), its root going to ``$ARTICULATE_MLFLOW_HOME``."""
    from mlflow.server.fastapi_app import app

    return with_home(app, os.environ.get(HOME_ENV, "#/experiments"))


def plugin_folder(folder: Path) -> Path:
    """Write a distribution's metadata with the ``mlflow.app`` entry point ``articulate`` (-> :func:`create_app`)
    into ``folder``; on ``PYTHONPATH``, it lets ``mlflow ui --app-name articulate`` find the app.

    Returns:
        ``folder``.
    """
    info = folder / "articulate_mlflow_app-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: articulate-mlflow-app\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[mlflow.app]\n{APP_NAME} = {__name__}:{create_app.__name__}\n")
    return folder

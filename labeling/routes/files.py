"""The page, its scripts, the round's atlas files, and the images of single points.

A file path in a request is checked before the file system sees it (:func:`safe_path`): a NUL byte, a control
character, a name longer than a file name may be, or a ``..`` answers 404 like any missing file, never an
error of the operating system.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from core.names import unencodable
from labeling.deps import TOKEN_COOKIE, SettingsDep, ViewDep
from labeling.guards import error_body

__all__ = ["CACHE_AN_HOUR", "PLOTLY", "STATIC", "StaticFolder", "router", "safe_path"]

STATIC = Path(__file__).resolve().parents[1] / "static"
# plotly.js with only the traces the pages draw (a third of the full bundle's size), built by tools/plotly_bundle
PLOTLY = STATIC / "vendor" / "plotly-articulate.min.js"
CACHE_AN_HOUR = {"Cache-Control": "public, max-age=3600"}
#: The longest file name (one path component, in UTF-8 bytes) and path a request may name: the usual limits of
#: Linux file systems, so that the operating system never answers "File name too long".
MAX_NAME_BYTES, MAX_PATH_BYTES = 255, 1024


def safe_path(root: Path, path: str) -> Path | None:
    """The regular file ``path`` names inside ``root``, or None: missing, outside ``root`` (``..``, a link
    pointing out), or a path no file can have (a NUL or control character, a name over 255 bytes).

    Args:
        root: The folder served (resolved).
        path: The path from the request, relative to ``root``.
    """
    if not path or len(path.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        return None
    parts = PurePosixPath(path.replace("\\", "/")).parts
    if any(p == ".." or len(p.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for p in parts):
        return None
    if unencodable(path) is not None or any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        return None
    try:
        target = (root / path).resolve()
        return target if target.is_relative_to(root) and target.is_file() else None
    except (OSError, ValueError):  # anything the checks above did not foresee is still just not a file here
        return None


class StaticFolder(StaticFiles):
    """The page's scripts and styles, with the same path checks as the atlas's files (404 JSON for the rest)."""

    def get_path(self, scope: Any) -> str:
        path = super().get_path(scope)
        if safe_path(Path(self.directory).resolve(), path.replace(os.sep, "/")) is None:  # type: ignore[arg-type]
            raise HTTPException(status_code=404, detail=f"no file {path!r} among the page's files")
        return path

router = APIRouter(include_in_schema=False)


@router.api_route("/", methods=["GET", "HEAD"])
def index(settings: SettingsDep, token: str | None = None) -> Response:
    """The page; a ``?token=`` that opened it is kept in a cookie, so the page's own requests carry it."""
    response = FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})
    if settings.token and token:
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
    return response


@router.get(f"/static/vendor/{PLOTLY.name}")
def plotly_js() -> FileResponse:
    return FileResponse(PLOTLY, media_type="text/javascript", headers=CACHE_AN_HOUR)


@router.get("/atlas/{path:path}")
def atlas_file(view: ViewDep, path: str) -> Response:
    """A file of the round's atlas folder; anything outside it (``..`` included) or missing answers 404."""
    target = safe_path(view.folder.resolve(), path)
    if target is None:
        shown = path if len(path) <= 80 else f"{path[:77]}..."
        return JSONResponse(error_body(f"no file {shown!r} in the atlas folder"), status_code=404)
    return FileResponse(target, headers=CACHE_AN_HOUR)


@router.get("/api/patch/{point}.png")
def patch(view: ViewDep, point: int) -> Response:
    return Response(view.pictures.patch_png(point), media_type="image/png", headers=CACHE_AN_HOUR)


@router.get("/api/sketch/{point}.png")
def sketch(view: ViewDep, point: int) -> Response:
    return Response(view.pictures.sketch_png(point), media_type="image/png", headers=CACHE_AN_HOUR)


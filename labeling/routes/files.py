"""The page, its scripts, the round's atlas files, and the images of single points."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, Response

from labeling.deps import TOKEN_COOKIE, RoomDep

__all__ = ["CACHE_AN_HOUR", "PLOTLY", "STATIC", "router"]

STATIC = Path(__file__).resolve().parents[1] / "static"
# plotly.js with only the traces the pages draw (a third of the full bundle's size), built by tools/plotly_bundle
PLOTLY = STATIC / "vendor" / "plotly-articulate.min.js"
CACHE_AN_HOUR = {"Cache-Control": "public, max-age=3600"}

router = APIRouter(include_in_schema=False)


@router.api_route("/", methods=["GET", "HEAD"])
def index(room: RoomDep, token: str | None = None) -> Response:
    """The page; a ``?token=`` that opened it is kept in a cookie, so the page's own requests carry it."""
    response = FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})
    if room.settings.token and token:
        response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
    return response


@router.get(f"/static/vendor/{PLOTLY.name}")
def plotly_js() -> FileResponse:
    return FileResponse(PLOTLY, media_type="text/javascript", headers=CACHE_AN_HOUR)


@router.get("/atlas/{path:path}")
def atlas_file(room: RoomDep, path: str) -> Response:
    """A file of the round's atlas folder; anything outside it (``..`` included) or missing answers 404."""
    root = room.view.folder.resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root) or not target.is_file():
        return JSONResponse({"error": f"no file {path!r} in the atlas folder"}, status_code=404)
    return FileResponse(target, headers=CACHE_AN_HOUR)


@router.get("/api/patch/{point}.png")
def patch(room: RoomDep, point: int) -> Response:
    return Response(room.view.patch_png(point), media_type="image/png", headers=CACHE_AN_HOUR)


@router.get("/api/sketch/{point}.png")
def sketch(room: RoomDep, point: int) -> Response:
    return Response(room.view.sketch_png(point), media_type="image/png", headers=CACHE_AN_HOUR)


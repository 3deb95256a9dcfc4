"""A drawing in a request: its strokes, or an atlas point (the sketch behind it)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from core.sketch import Sketch
from labeling.atlas_view import AtlasView
from labeling.fields import Index, Strokes
from pipeline.coach.coach import DrawingError, Limits, strokes_to_sketch

__all__ = ["Drawing", "sketch_of"]


class Drawing(BaseModel):
    """A drawing: its strokes (Quick, Draw! layout, 0..255), or an atlas point (the sketch behind it)."""

    model_config = ConfigDict(extra="forbid")
    strokes: Strokes | None = None
    point: Index | None = None


def sketch_of(body: Drawing, view: AtlasView, limits: Limits) -> Sketch:
    """The sketch a request names.

    Args:
        body: The request's drawing.
        view: The atlas whose points a drawing may name (the session's).
        limits: What drawn strokes may hold (the coach's).

    Raises:
        DrawingError: Both or neither given, or malformed strokes.
        NotInAtlasError: No such point.
    """
    if (body.strokes is None) == (body.point is None):
        raise DrawingError("give the drawing as strokes or as an atlas point, one of them")
    if body.point is not None:
        return view.sketch_of_point(body.point)
    return strokes_to_sketch(body.strokes, limits)

"""What one request may ask for (``GET /api/limits``): ``labeling.limits``, with the dream's octaves cut to what
the round's model input has room for. The routes check requests against these ranges and the pages set their
fields' ranges from the same answer, so a limit lives in one place (``conf/labeling/default.yaml``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from labeling.deps import CoachDep, SettingsDep
from labeling.settings import RequestLimits
from pipeline.coach.coach import Coach

__all__ = ["OCTAVE_SCALE", "request_limits", "router"]

router = APIRouter(prefix="/api")
#: Size ratio between a dream's consecutive octaves.
OCTAVE_SCALE = 1.4


def request_limits(limits: RequestLimits, coach: Coach) -> dict[str, dict[str, float]]:
    """Each limited field's ``{"min", "max"}`` for this round's model.

    Args:
        limits: The settings' request limits (``labeling.limits``).
        coach: The round's coach (it holds the model, whose input size bounds a dream's octaves).
    """
    from pipeline.featurevis.dream import most_octaves

    return limits.ranges(most_octaves(int(coach.scorer.model.raster.size), OCTAVE_SCALE))


@router.get("/limits")
def limits(coach: CoachDep, settings: SettingsDep) -> dict[str, Any]:
    """The ranges the server accepts, ``{"dream_octaves": {"min": 1, "max": 5}, ...}`` (docs/reference/http-api.md)."""
    return request_limits(settings.limits, coach)

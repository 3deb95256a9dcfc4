"""Which concepts the round's model relies on (``GET /api/reliance``): the evaluate stage's causal check, read
from ``<paths.evaluation>/round_<r>/metrics.json``: per concept, the accuracy each class loses when the concept is
erased where it fires."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from labeling.deps import SettingsDep, ViewDep

__all__ = ["router"]

router = APIRouter(prefix="/api")


@router.get("/reliance")
def reliance(view: ViewDep, settings: SettingsDep) -> dict[str, Any]:
    """The round's reliance table, or ``available: false`` and a message saying why there is none."""
    round_ = view.round
    answer: dict[str, Any] = {"round": round_, "available": False, "message": None, "grow": None, "classes": [],
                              "accuracy": [], "concepts": []}
    if not settings.evaluation_dir:
        return {**answer, "message": "this server was started without the project's evaluations"}
    file = Path(settings.evaluation_dir) / f"round_{round_}" / "metrics.json"
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {**answer, "message": f"round {round_} is not evaluated yet (run the evaluate stage)"}
    except (OSError, ValueError) as err:
        return {**answer, "message": f"{file}: unreadable ({err}); run the evaluate stage again"}
    table = document.get("reliance")
    if not table:
        why = "it has no concepts" if not document.get("concepts") else "evaluate.reliance.enabled was off"
        return {**answer, "message": f"round {round_} has no reliance table: {why}"}
    names = {str(c.get("id")): str(c.get("name")) for c in document.get("concepts") or []}
    concepts = []
    for concept_id, drops in table["drop"].items():
        worst = max(drops, key=drops.get) if drops else None
        most = float(drops[worst]) if worst else 0.0
        concepts.append({"id": concept_id, "name": names.get(concept_id, concept_id), "drop": drops,
                         "max_drop": most, "worst_class": worst if most > 0 else None})  # None: no class needs it
    return {**answer, "available": True, "grow": table.get("grow"), "classes": table["classes"],
            "accuracy": table["accuracy"], "concepts": concepts}

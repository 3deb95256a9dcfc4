"""What the app draws as strokes: a feature visualization, a dream or a "show me" answered as a drawing (strokes in
the 0..255 box, written as one Quick, Draw! ndjson line) instead of a picture.

A sketch model (1-channel input) reads strokes, so its visualizations and dreams are drawn as strokes by default
(``as: "strokes"``) and a person can read, trace and redraw them; ``as: "pixels"`` keeps the picture. A model of
RGB photographs is offered pixels only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from pipeline.coach.coach import DrawingError
from pipeline.models.input_spec import InputSpec

__all__ = ["DRAWN_AS", "DrawnAs", "drawing_line", "drawn_as", "drawn_options", "read_as", "strokes_answer"]

#: How a visualization or a dream may be drawn.
DRAWN_AS = ("strokes", "pixels")
DrawnAs = Literal["strokes", "pixels"]


def drawn_options(spec: InputSpec) -> dict[str, Any]:
    """What a model may be drawn as, and its default: strokes and pixels for sketch models (strokes first), pixels
    for RGB models."""
    choices = list(DRAWN_AS) if spec.channels == 1 else ["pixels"]
    return {"as": choices, "default": choices[0]}


def drawn_as(choice: str | None, spec: InputSpec) -> str:
    """The drawing a request asks for (None: the model's default).

    Raises:
        DrawingError: Strokes asked of a model that does not read sketches.
    """
    options = drawn_options(spec)
    if choice is None:
        return options["default"]
    if choice not in options["as"]:
        raise DrawingError(f"as: this round's model reads {spec.channels}-channel images, so its visualizations and "
                           f"dreams are drawn as {' or '.join(options['as'])}, not {choice}")
    return choice


def read_as(net: torch.nn.Module, image: torch.Tensor, spec: InputSpec, classes: Sequence[str]) -> tuple[str, float]:
    """The class a model reads a rendered drawing as, and its probability.

    Args:
        net: The network (not changed; no gradients).
        image: (C, H, W) in [0, 1], in render space (as :func:`pipeline.featurevis.render.render` answers it).
        spec: The model's input spec.
        classes: Its class names.
    """
    from pipeline.models.input_spec import to_model_input

    with torch.no_grad():
        logits = net(to_model_input(image[None].float(), spec))
    probabilities = torch.softmax(logits.float(), dim=1)[0]
    k = int(probabilities.argmax())
    return classes[k], float(probabilities[k])


def drawing_line(strokes: Sequence[np.ndarray], *, word: str, key_id: str) -> str:
    """A drawing as one Quick, Draw! ndjson line (integer coordinates in 0..255, a newline at its end).

    Args:
        strokes: Float (2, n) arrays in drawing units.
        word: Its class name.
        key_id: Its key_id.
    """
    from pipeline.featurevis.strokes import strokes_sketch

    return json.dumps(strokes_sketch(strokes, word, key_id).to_ndjson_record()) + "\n"


def strokes_answer(line: str, *, what: str, explain: str) -> dict[str, Any]:
    """A drawing as the API answers it: its strokes (as its ndjson line holds them), that line, what it was made
    toward, and the plain words of what it is.

    Args:
        line: The drawing's ndjson line (:func:`drawing_line`).
        what: What it was made toward ("cluster 3").
        explain: One or two sentences a person reads under it.
    """
    return {"strokes": json.loads(line)["drawing"], "ndjson": line, "what": what, "explain": explain, "as": "strokes"}

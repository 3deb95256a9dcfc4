"""The value types of the app's request bodies, strict where a lax reading would let nonsense through.

pydantic's lax mode reads ``"12"`` and ``true`` as numbers and accepts integers of any size; a request body is
hostile input, so ids and indices are strict whole numbers within 32 bits (an id beyond 64 bits never reaches
numpy), and drawing coordinates strict numbers (an integer is a number; a string or a boolean is not; whether they
are finite and on the canvas the coach checks, naming the stroke).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

__all__ = ["MAX_INDEX", "Coordinate", "Index", "Whole", "Strokes"]

#: The largest id or index a request may name: more than any atlas, grid, channel or version will hold.
MAX_INDEX = 2**31 - 1

#: A point id, cluster, cell, channel, grid row or column, version: a whole number 0..MAX_INDEX (not "3", not true).
Index = Annotated[int, Field(strict=True, ge=0, le=MAX_INDEX)]
#: A whole number within the same bounds, sign allowed: a shift of the map, or a cluster or cell the atlas looks up
#: (a negative one answers 404 naming those it has).
Whole = Annotated[int, Field(strict=True, ge=-MAX_INDEX, le=MAX_INDEX)]
#: A drawing coordinate: a number (an int is accepted as one; a string or a boolean is refused).
Coordinate = Annotated[float, Field(strict=True)]
#: Strokes in the Quick, Draw! layout: ``[[x...], [y...]]`` per stroke.
Strokes = list[list[list[Coordinate]]]

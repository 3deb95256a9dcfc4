"""Pictures the app shows: the atlas points' patches and sketches (:class:`AtlasPictures`, cached per atlas), and
those it makes on demand (dreams, feature visualizations), as PNG bytes and as ``data:`` URLs for the page's
``<img>``."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from PIL import Image

if TYPE_CHECKING:
    import torch

    from pipeline.atlas.patches import PatchMaker

__all__ = ["AtlasPictures", "data_url", "picture_png"]


class AtlasPictures:
    """An atlas's points as PNG images: each point's receptive-field patch and the whole sketch behind it.

    Args:
        points: The atlas's points (``key_id``, ``y``, ``x`` of each).
        patches: Draws a patch or a sketch of the dataset's drawings as the model saw them.
        check: Checks point ids (raises for one the atlas does not have) and answers them as an array.
    """

    def __init__(self, points: pd.DataFrame, patches: PatchMaker,
                 check: Callable[[Iterable[int]], np.ndarray]) -> None:
        self.points = points
        self.patches = patches
        self.check = check
        # Per atlas (a module-level cache keyed on atlases would keep every one alive).
        self._png = lru_cache(maxsize=4096)(self._render)

    def patch_png(self, point: int) -> bytes:
        """The receptive-field patch of a point as PNG bytes (its stride cell outlined).

        Raises:
            NotInAtlasError: No such point.
        """
        return self._png(int(self.check([point])[0]), "patch")

    def sketch_png(self, point: int) -> bytes:
        """The whole sketch behind a point as PNG bytes, drawn sharp, the point marked (``PatchMaker.context``).

        Raises:
            NotInAtlasError: No such point.
        """
        return self._png(int(self.check([point])[0]), "sketch")

    def _render(self, point: int, kind: str) -> bytes:
        row = self.points.iloc[point]
        key, y, x = str(row["key_id"]), int(row["y"]), int(row["x"])
        if kind == "patch":
            image = self.patches.patch(key, y, x)
        else:
            image = self.patches.context(key, y, x)
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        return buffer.getvalue()


def picture_png(image: torch.Tensor) -> bytes:
    """A (C, H, W) image in [0, 1] as PNG bytes, enlarged for display as the featurevis images are."""
    from pipeline.featurevis.images import display_zoom, to_pil

    buffer = io.BytesIO()
    to_pil(image, display_zoom(image.shape[-1])).save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(png: bytes) -> str:
    """PNG bytes as a ``data:image/png;base64,...`` URL."""
    return "data:image/png;base64," + base64.b64encode(png).decode()

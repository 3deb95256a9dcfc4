"""Pictures the app makes on demand (dreams, feature visualizations), as PNG bytes and as ``data:`` URLs for the
page's ``<img>``."""

from __future__ import annotations

import base64
import io

import torch

__all__ = ["data_url", "picture_png"]


def picture_png(image: torch.Tensor) -> bytes:
    """A (C, H, W) image in [0, 1] as PNG bytes, enlarged for display as the featurevis images are."""
    from pipeline.featurevis.images import display_zoom, to_pil

    buffer = io.BytesIO()
    to_pil(image, display_zoom(image.shape[-1])).save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(png: bytes) -> str:
    """PNG bytes as a ``data:image/png;base64,...`` URL."""
    return "data:image/png;base64," + base64.b64encode(png).decode()

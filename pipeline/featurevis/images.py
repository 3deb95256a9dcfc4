"""Writing rendered images: single PNGs, labelled grids, and side-by-side comparisons."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from core.errors import InputError

#: Icons are enlarged to at least this many pixels so a person can see their strokes.
MIN_DISPLAY_SIZE = 128
LABEL_HEIGHT = 14


def to_pil(image: torch.Tensor | np.ndarray, zoom: int = 1) -> Image.Image:
    """One image (C, H, W) or (H, W) in [0, 1] as an 8-bit PIL image, enlarged ``zoom`` times (nearest).

    Args:
        image: 1- or 3-channel image with values in [0, 1].
        zoom: Integer enlargement.

    Returns:
        An "L" or "RGB" PIL image.
    """
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if array.ndim == 3:
        array = array[0] if array.shape[0] == 1 else np.transpose(array, (1, 2, 0))
    pil = Image.fromarray(np.clip(np.rint(array * 255.0), 0, 255).astype(np.uint8))
    if zoom > 1:
        pil = pil.resize((pil.width * zoom, pil.height * zoom), Image.NEAREST)
    return pil


def display_zoom(size: int) -> int:
    """The integer zoom that brings a ``size``-pixel image to at least :data:`MIN_DISPLAY_SIZE` pixels."""
    return max(1, math.ceil(MIN_DISPLAY_SIZE / size))


def grid_image(images: torch.Tensor, labels: Sequence[str] | None = None, columns: int | None = None,
               zoom: int | None = None) -> Image.Image:
    """Images (B, C, H, W) in [0, 1] tiled in a grid, each with its caption underneath.

    Args:
        images: The images.
        labels: One caption per image (none when None).
        columns: Images per row (default: about square).
        zoom: Integer enlargement (default: :func:`display_zoom`).

    Returns:
        An RGB PIL image.
    """
    count, _, height, width = images.shape
    zoom = display_zoom(max(height, width)) if zoom is None else zoom
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    cell_w, cell_h, gap = width * zoom, height * zoom + (LABEL_HEIGHT if labels else 0), 4
    sheet = Image.new("RGB", (columns * (cell_w + gap) + gap, rows * (cell_h + gap) + gap), (255, 255, 255))
    draw, font = ImageDraw.Draw(sheet), ImageFont.load_default()
    for i in range(count):
        left, top = gap + (i % columns) * (cell_w + gap), gap + (i // columns) * (cell_h + gap)
        sheet.paste(to_pil(images[i], zoom).convert("RGB"), (left, top))
        if labels:
            draw.text((left + 2, top + height * zoom + 1), str(labels[i]), fill=(0, 0, 0), font=font)
    return sheet


def side_by_side(images: Sequence[torch.Tensor], captions: Sequence[str], zoom: int | None = None) -> Image.Image:
    """Images (C, H, W) of one size next to each other, captioned ("original", "dreamed").

    Args:
        images: The images, values in [0, 1].
        captions: One caption per image.
        zoom: Integer enlargement (default: :func:`display_zoom`).

    Returns:
        An RGB PIL image.
    """
    return grid_image(torch.stack(list(images)), list(captions), columns=len(images), zoom=zoom)


def save_png(image: Image.Image, path: str | Path) -> Path:
    """Write a PNG, creating the folder.

    Args:
        image: The image.
        path: Where to write it.

    Returns:
        The path written.

    Raises:
        InputError: If the file cannot be written.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, format="PNG")
    except OSError as error:
        raise InputError(path, f"cannot write the image ({error.strerror or error})", hint="check the folder and permissions") from None
    return path

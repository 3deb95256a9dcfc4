"""A synthetic activation store with known structure, for tests and benchmarks of the atlas.

Every ink position has a true part; its activation vector is that part's centre plus Gaussian noise
(``noise`` small: parts are perfectly separable; ``structured=False``: vectors independent of parts).
Half-rectified like a ReLU layer's output, stored as float16 as the extract stage stores it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.activations.store import ActivationStore, ActivationWriter, LayerMeta
from core.sketch import Sketch

__all__ = ["synthetic_sketches", "synthetic_store"]


def synthetic_store(folder: str | Path, *, sketches: int = 200, size: int = 8, channels: int = 16, parts: int = 4,
                    classes: int = 3, ink: float = 0.4, noise: float = 0.05, structured: bool = True,
                    with_parts: bool = True, seed: int = 0, batch: int = 4096) -> ActivationStore:
    """Write and open a synthetic store.

    Args:
        folder: The layer folder to write.
        sketches: N.
        size: H = W.
        channels: C.
        parts: Number of true parts.
        classes: Number of classes (sketch i has class i % classes).
        ink: Fraction of positions with ink.
        noise: Standard deviation of the noise around each part's centre (centres have norm about 3).
        structured: False: activation vectors independent of the part.
        with_parts: False: no part names in the meta and part 0 everywhere (data without parts).
        seed: Random seed.
        batch: Sketches written per batch (bounded memory for large stores).

    Returns:
        The opened store. Its geometry is SketchCNN's ``features.block3`` scaled to ``size``: stride 4,
        receptive field 18, offset 1.5, input ``4 * size`` pixels.
    """
    rng = np.random.default_rng(seed)
    meta = LayerMeta(layer="features.block3", num_sketches=sketches, height=size, width=size, channels=channels,
                     input_size=4 * size, stride=4.0, receptive_field=18, rf_offset=1.5, split="test",
                     classes=[f"class{i}" for i in range(classes)],
                     parts=[f"part{i}" for i in range(parts)] if with_parts else None)
    writer = ActivationWriter(folder, meta)
    centres = np.abs(rng.normal(size=(parts, channels))) * 3.0 / np.sqrt(channels) * 1.7
    centres[np.arange(parts), np.arange(parts) % channels] += 2.0  # one strong channel per part
    for start in range(0, sketches, batch):
        b = min(batch, sketches - start)
        inked = rng.random((b, size, size)) < ink
        part = rng.integers(1, parts + 1, size=(b, size, size)).astype(np.int16)
        if structured:
            acts = centres[part - 1] + rng.normal(scale=noise, size=(b, size, size, channels))
        else:
            acts = np.abs(rng.normal(size=(b, size, size, channels)))
        acts = np.maximum(acts, 0.0) * inked[..., None]
        attribution = (rng.normal(loc=0.3, scale=0.5, size=(b, size, size)) * inked).astype(np.float32)
        writer.write(acts.astype(np.float16), attribution, inked, np.where(inked & with_parts, part, 0))
    writer.close([f"k{i}" for i in range(sketches)], np.arange(sketches) % classes)
    return ActivationStore(folder)


def synthetic_sketches(sketches: int = 200, classes: int = 3) -> list[Sketch]:
    """Drawings matching :func:`synthetic_store`'s key ids: a cross through the canvas, one per sketch."""
    line = np.array([[0.0, 255.0], [0.0, 255.0]], dtype=np.float32)
    other = np.array([[0.0, 255.0], [255.0, 0.0]], dtype=np.float32)
    return [Sketch(key_id=f"k{i}", word=f"class{i % classes}", strokes=(line, other)) for i in range(sketches)]

"""Feature visualization: objectives, image parameterisations, transformation robustness, batched rendering.

The pieces follow Lucid/lucent (Olah et al., "Feature Visualization", Distill 2017; Carter et al.,
"Activation Atlas", Distill 2019), rewritten for batched use: many objectives are optimised in one batch,
one forward and backward pass per step for the whole batch.

    from pipeline.featurevis import objectives, render
    result = render.render(net, [objectives.channel("features.block3", c) for c in range(16)], spec)
    result.images   # (16, 1, 64, 64) in [0, 1], the sketch raster the model sees
"""

from pipeline.featurevis.dream import deepdream
from pipeline.featurevis.objectives import (
    OUTPUT,
    Objective,
    channel,
    class_logit,
    deepdream as deepdream_objective,
    direction,
    neuron,
)
from pipeline.featurevis.param import ImageParam, fourier_image, pixel_image
from pipeline.featurevis.regularizers import Regularizer, blur_penalty, boundary, l2, total_variation
from pipeline.featurevis.render import RenderResult, render, render_one_by_one
from pipeline.featurevis.transforms import (
    CenterCrop,
    Compose,
    Jitter,
    Pad,
    RandomRotate,
    RandomScale,
    default_transforms,
)

__all__ = [
    "OUTPUT",
    "CenterCrop",
    "Compose",
    "ImageParam",
    "Jitter",
    "Objective",
    "Pad",
    "RandomRotate",
    "RandomScale",
    "Regularizer",
    "RenderResult",
    "blur_penalty",
    "boundary",
    "channel",
    "class_logit",
    "deepdream",
    "deepdream_objective",
    "default_transforms",
    "direction",
    "fourier_image",
    "l2",
    "neuron",
    "pixel_image",
    "render",
    "render_one_by_one",
    "total_variation",
]

"""Model code: the embedded sketch CNN, torchvision models by name, user models from checkpoints, layer
paths, input specs, and the Lightning module that trains them all."""

from pipeline.models.checkpoint import load_weights, read_state_dict
from pipeline.models.classifier import SketchClassifier, logits_of
from pipeline.models.input_spec import IMAGENET_MEAN, IMAGENET_STD, InputSpec, to_model_input
from pipeline.models.layers import get_layer, layer_names, layer_output_shape
from pipeline.models.sketch_cnn import SketchCNN, default_input_spec
from pipeline.models.torchvision_zoo import (
    cached_weights_path,
    classification_model_names,
    imagenet_input_spec,
    torchvision_classifier,
    torchvision_input_spec,
)

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "InputSpec",
    "SketchCNN",
    "SketchClassifier",
    "cached_weights_path",
    "classification_model_names",
    "default_input_spec",
    "get_layer",
    "imagenet_input_spec",
    "layer_names",
    "layer_output_shape",
    "load_weights",
    "logits_of",
    "read_state_dict",
    "to_model_input",
    "torchvision_classifier",
    "torchvision_input_spec",
]

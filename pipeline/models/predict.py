"""A classifier's predictions over a dataset, and its class accuracy through a :class:`ClassMap`."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from pipeline.models.classes import ClassMap
from pipeline.models.input_spec import InputSpec, to_model_input
from pipeline.models.outputs import logits_of


@torch.no_grad()
def predict_outputs(net: nn.Module, dataset: Dataset, input_spec: InputSpec,
                    batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Run ``net`` (in eval mode, restored after) over a dataset of ``(image, label)`` items.

    Returns:
        (labels, predictions): (N,) int64 each; a prediction is the argmax over all of the model's outputs.
    """
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    labels, predictions = [], []
    try:
        for images, batch_labels in DataLoader(dataset, batch_size=batch_size):
            logits = logits_of(net(to_model_input(images.to(device), input_spec)))
            predictions.append(logits.argmax(1).cpu().numpy())
            labels.append(np.asarray(batch_labels))
    finally:
        net.train(was_training)
    if not labels:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(labels).astype(np.int64), np.concatenate(predictions).astype(np.int64)


def class_accuracy(net: nn.Module, dataset: Dataset, input_spec: InputSpec, classes: ClassMap | None = None,
                   batch_size: int = 256) -> float:
    """Top-1 accuracy of ``net`` on a dataset whose labels are :meth:`ClassMap.labels`.

    Args:
        classes: How the dataset's classes map onto the outputs; None: one for one (label = output).
    """
    labels, predictions = predict_outputs(net, dataset, input_spec, batch_size)
    if classes is None:
        return float((labels == predictions).mean()) if len(labels) else 0.0
    return classes.accuracy(labels, predictions)

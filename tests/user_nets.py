"""A user's own model, as a researcher would write it: importable by ``_target_`` from the tests."""

from __future__ import annotations

from torch import nn


class FlatNet(nn.Module):
    """A small CNN that flattens its map into a linear layer, so it takes only inputs of its own size.

    Args:
        num_classes: Outputs.
        size: The input side it was built for.
    """

    def __init__(self, num_classes: int, size: int = 28) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(4 * size * size, num_classes)

    def forward(self, x):
        return self.fc(self.features(x).flatten(1))

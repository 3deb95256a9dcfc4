"""The prototype term at the atlas layer, on toys where the right answer is known."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from core.errors import ConfigError
from pipeline.finetune.prototypes import prototype_loss
from pipeline.finetune.targets import BACKGROUND, OTHER, POSITIVE, UNVERIFIED
from tests.defaults import TargetWeights


def _toy(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """8 sketches, 2 concepts on a 4x4 grid: concept 0 in the left half, concept 1 in the right, background below."""
    generator = torch.Generator().manual_seed(seed)
    activations = torch.randn(8, 16, 4, 4, generator=generator)
    codes = torch.full((8, 2, 4, 4), BACKGROUND, dtype=torch.uint8)
    codes[:, 0, :2, :2], codes[:, 1, :2, :2] = POSITIVE, OTHER
    codes[:, 1, :2, 2:], codes[:, 0, :2, 2:] = UNVERIFIED, OTHER
    return activations, codes


def _separation(activations: torch.Tensor) -> float:
    """Mean cosine within the two concepts' positions minus the mean cosine between them."""
    v = F.normalize(activations.permute(0, 2, 3, 1), dim=-1)
    left, right = v[:, :2, :2].reshape(-1, v.shape[-1]), v[:, :2, 2:].reshape(-1, v.shape[-1])
    within = ((left @ left.T).mean() + (right @ right.T).mean()) / 2
    return float(within - (left @ right.T).mean())


def test_the_term_pulls_each_concept_together_and_the_concepts_apart() -> None:
    activations, codes = _toy()
    activations.requires_grad_(True)
    optimizer = torch.optim.Adam([activations], lr=0.05)
    before, start = _separation(activations.detach()), float(prototype_loss(activations, codes, TargetWeights()))
    for _ in range(100):
        optimizer.zero_grad()
        loss = prototype_loss(activations, codes, TargetWeights())
        loss.backward()
        optimizer.step()
    assert float(loss) < 0.5 * start
    assert before < 0.1 and _separation(activations.detach()) > 0.5


def test_background_positions_are_left_alone_and_weights_count() -> None:
    activations, codes = _toy()
    activations.requires_grad_(True)
    prototype_loss(activations, codes, TargetWeights()).backward()
    assert activations.grad[:, :, 2:].abs().sum() == 0, "positions of no concept get no gradient"
    # Unverified positions weigh what the settings say: at weight 0 the right half does not count at all.
    activations.grad = None
    prototype_loss(activations, codes, TargetWeights(unverified=0.0)).backward()
    assert activations.grad[:, :, :2, 2:].abs().sum() == 0


def test_one_concept_gives_zero_with_a_gradient_and_a_bad_temperature_is_refused() -> None:
    activations, codes = _toy()
    codes[:, 1] = BACKGROUND
    codes[:, 0, :2, 2:] = BACKGROUND
    activations.requires_grad_(True)
    loss = prototype_loss(activations, codes, TargetWeights())
    assert float(loss) == 0.0 and loss.requires_grad
    with pytest.raises(ConfigError, match="prototype_temperature"):
        prototype_loss(activations, codes, TargetWeights(), temperature=0.0)

"""Drawing-level concepts through a round: the fine-tune trains a drawing head on them beside the concept head, and
evaluate reports each one's AP against the attribute value it matches best."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from conceptstore.store import ConceptStore
from core.errors import InputError
from pipeline.data.store import read_split
from pipeline.finetune.targets import NEGATIVE, POSITIVE, UNLABELED, UNVERIFIED, TargetWeights, drawing_codes, \
    drawing_loss
from pipeline.models.concept_head import DrawingHead, ink_pool
from tests.conftest import fixture_threads

ROUND_1 = ["round=1", "finetune.epochs=3", "finetune.batch_size=16", "finetune.concept_batch_size=64",
           "finetune.progress=false", "evaluate.progress=false", "evaluate.reliance.enabled=false"]
PER_SIDE = 60  # labelled drawings of each facing


def _weights() -> TargetWeights:
    return TargetWeights(negative=1.0, other=0.1, background=0.04, unlabeled=0.0, unverified=0.5,
                         other_unverified=0.1, balanced=False)


def test_the_drawing_head_pools_over_ink_and_its_loss_reads_the_codes() -> None:
    activations = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    ink = torch.tensor([[[True, False], [False, True]], [[False, False], [False, False]]])
    pooled = ink_pool(activations, ink)
    assert pooled.shape == (2, 9)
    assert torch.allclose(pooled[0, :3], activations[0][:, [0, 1], [0, 1]].mean(1))  # the two inked positions
    # their column moment: column 0 at -0.25, column 1 at +0.25 of the grid's width
    assert torch.allclose(pooled[0, 3:6], (activations[0][:, 1, 1] - activations[0][:, 0, 0]) / 8)
    assert torch.allclose(pooled[1, :3], activations[1].flatten(1).mean(1))  # no ink: every position

    class Labels:
        def __init__(self, positives: tuple, negatives: tuple, verified: tuple) -> None:
            self.id, self.name = "c1", "x"
            self.positives, self.negatives, self.verified = positives, negatives, verified

    codes = drawing_codes([Labels(("a", "b"), ("c",), ("a",)), Labels(("d",), (), ())], ["a", "b", "c", "d", "e"])
    assert codes.tolist() == [[POSITIVE, UNLABELED], [UNVERIFIED, UNLABELED], [NEGATIVE, UNLABELED],
                              [UNLABELED, POSITIVE], [UNLABELED, UNLABELED]]
    logits = torch.zeros(5, 2, requires_grad=True)
    loss = drawing_loss(logits, torch.from_numpy(codes), _weights(), unlabeled_weight=0.0)
    assert loss.item() == pytest.approx(np.log(2))  # every counted drawing at logit 0
    loss.backward()
    assert logits.grad[4].abs().sum() == 0 and logits.grad[1, 1] == 0  # unlabeled drawings weigh 0 here
    assert logits.grad[0, 0] < 0 < logits.grad[2, 0]  # a positive pulls up, a negative down
    head = DrawingHead(channels=3, concepts=2)
    assert head(activations, ink).shape == (2, 2)


@pytest.fixture(scope="module")
def drawing_round(labeling_project: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], dict]:
    """Round 1 of the test project with one concept of positions (its atlas's purest cluster) and a drawing-level
    concept 'facing left' (left-facing val drawings; right-facing ones its negatives), fine-tuned and evaluated."""
    from labeling.atlas_view import AtlasView
    from pipeline.config import compose
    from pipeline.stages import evaluate as evaluate_stage
    from pipeline.stages import finetune as finetune_stage

    folder = tmp_path_factory.mktemp("drawing_round")
    for part in ("dataset", "models/base", "models/round_0", "atlases/round_0"):
        shutil.copytree(labeling_project.folder / part, folder / part)
    # evaluate reads only the round's atlas's metrics: round 0's stand in for round 1's, which this test does not need
    shutil.copytree(folder / "atlases" / "round_0", folder / "atlases" / "round_1")
    settings = [s.replace(str(labeling_project.folder), str(folder)) for s in [*labeling_project.overrides, *ROUND_1]]
    cfg = compose(settings)
    view = AtlasView.load(labeling_project.cfg(), 0)
    cluster = max((c for c in view.document["clusters"] if c.get("majority_part")),
                  key=lambda c: float(c.get("purity") or 0))
    store = ConceptStore(folder / "concepts" / "concepts.yaml")
    store.promote(str(cluster["majority_part"]), view.positions(view.select(cluster=int(cluster["cluster"])).points),
                  layer=view.layer, born_round=0, source={"kind": "cluster", "cluster": int(cluster["cluster"])})
    val = read_split(folder / "dataset", "val")
    sides = {side: [s.key_id for s in val if (s.attributes or {}).get("facing") == side][:PER_SIDE]
             for side in ("left", "right")}
    assert all(len(keys) >= 20 for keys in sides.values()), {k: len(v) for k, v in sides.items()}
    store.promote("facing left", sides["left"], sides["right"], layer=view.layer, born_round=0, level="drawing",
                  source={"kind": "drawing", "attribute": "facing", "value": "left"})
    with fixture_threads():
        info = finetune_stage.run(cfg)
        evaluate_stage.run(cfg)
    return folder, settings, info


def test_the_fine_tune_trains_a_drawing_head_beside_the_concept_head(drawing_round: tuple[Path, list[str], dict]) -> None:
    from pipeline.models.build import load_trained

    folder, _, info = drawing_round
    model = load_trained(folder / "models" / "round_1" / "model.pt")
    assert [c["name"] for c in model.concepts] == [info["concepts"][0]["name"]]  # the concept head: positions only
    assert [c["name"] for c in model.drawing_concepts] == ["facing left"] and model.drawing_concepts[0]["id"] == "c2"
    assert isinstance(model.drawing_head, DrawingHead) and model.drawing_head.concepts == 1
    assert model.drawing_head.linear.weight.abs().max() > 0.05  # trained: it started at 0.01 noise
    (entry,) = info["drawing_concepts"]
    assert entry["name"] == "facing left" and entry["positives"] >= 20 and entry["negatives"] >= 20
    assert entry["layer"] == model.layer
    # every labelled drawing is a labelled sketch of the round
    assert info["labelled_sketches"] >= entry["positives"] + entry["negatives"]


def test_evaluate_reports_a_drawing_level_concepts_ap_against_its_best_attribute(
        drawing_round: tuple[Path, list[str], dict]) -> None:
    folder, _, _ = drawing_round
    metrics = json.loads((folder / "evaluation" / "round_1" / "metrics.json").read_text())
    (entry,) = metrics["drawing_concepts"]
    assert entry["id"] == "c2" and entry["ap_key"] == "concept_ap/facing_left_c2"
    assert metrics["concept_ap/facing_left_c2"] == entry["ap"]
    print("facing left:", entry)
    assert entry["matched"] == "facing=left" and entry["drawings"] == metrics["n_sketches"]
    assert entry["ap_by_value"]["facing=left"] == entry["ap"] > entry["base_rate"]  # above what chance ranks
    assert metrics["n_concepts"] == 1  # the concept head's concepts, as before


def test_a_store_of_drawing_level_concepts_only_cannot_train_a_round(drawing_round: tuple[Path, list[str], dict],
                                                                     tmp_path: Path) -> None:
    from pipeline.stages import finetune as finetune_stage

    from pipeline.config import compose
    from pipeline.models.build import load_trained

    folder, settings, _ = drawing_round
    concepts = tmp_path / "concepts.yaml"
    layer = load_trained(folder / "models" / "round_1" / "model.pt").layer
    key = read_split(folder / "dataset", "val")[0].key_id
    ConceptStore(concepts).promote("facing left", [key], layer=layer, born_round=0, level="drawing",
                                   source={"kind": "manual"})
    with pytest.raises(InputError, match="no position-level concept has a positive position"):
        finetune_stage.run(compose([*settings, f"paths.concepts={concepts}", "round=2"]))
    assert not (folder / "models" / "round_2").exists()  # nothing half-written

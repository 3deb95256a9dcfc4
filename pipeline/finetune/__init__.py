"""Fine-tuning on concepts (stage 5 of the loop): targets from the concept store, the data of a fine-tune, the
Lightning module that trains a concept head with the classifier, and what the stage measures and draws.

The stage itself is :mod:`pipeline.stages.finetune`.
"""

from pipeline.finetune.module import ConceptFinetuner, ExportedConceptModel, modules_after
from pipeline.finetune.targets import ConceptTargets, TargetWeights, build_targets, concept_loss

__all__ = ["ConceptFinetuner", "ConceptTargets", "ExportedConceptModel", "TargetWeights", "build_targets",
           "concept_loss", "modules_after"]

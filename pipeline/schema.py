"""The shape of the configuration: one structured config (dataclass) per group of ``conf/``.

Hydra composes ``conf/`` onto :class:`ArticulateConfig` (stored in Hydra's ConfigStore as ``articulate_schema``
and named first in ``conf/config.yaml``'s defaults), so every key and the type of every value is checked as it is
composed: a key the schema lacks, or a value of the wrong type, is refused with the key's full name
(:func:`pipeline.config.compose` turns it into one line). Values live in ``conf/`` only: no field has a default
(``MISSING``), and a key that ``conf/`` leaves unset is refused too.

Nodes that build an object (``data.source``, ``model.net``, ``trainer``: a ``_target_`` and its arguments) are
free mappings here; their keys are checked against the target's signature instead. Ranges and choices are
checked where the value is used, by the class that takes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from omegaconf import MISSING

__all__ = ["ArticulateConfig", "SCHEMA_NAME", "TARGET_NODES", "register"]

#: The schema's name in Hydra's ConfigStore, as ``conf/config.yaml`` names it.
SCHEMA_NAME = "articulate_schema"
#: Nodes built by ``hydra.utils.instantiate``: their keys are checked against their ``_target_``'s signature.
TARGET_NODES = ("data.source", "model.net", "trainer")


@dataclass
class PathsConfig:
    dataset: str = MISSING
    models: str = MISSING
    checkpoints: str = MISSING
    cache: str = MISSING
    activations: str = MISSING
    atlases: str = MISSING
    evaluation: str = MISSING
    quickdraw: str = MISSING
    concepts: str = MISSING
    user_code: list[str] = MISSING


@dataclass
class DataConfig:
    name: str = MISSING
    source: dict[str, Any] = MISSING  # a _target_ and its arguments
    splits: dict[str, float] = MISSING
    batch_size: int = MISSING
    num_workers: int = MISSING


@dataclass
class InputConfig:
    size: int = MISSING
    channels: int = MISSING
    invert: bool = MISSING
    mean: list[float] = MISSING
    std: list[float] = MISSING
    line_width: float = MISSING


@dataclass
class OptimizerConfig:
    lr: float = MISSING
    weight_decay: float = MISSING
    scheduler: str = MISSING
    label_smoothing: float = MISSING


@dataclass
class ModelConfig:
    name: str = MISSING
    net: dict[str, Any] = MISSING  # a _target_ and its arguments
    checkpoint: Optional[str] = MISSING
    pretrained: bool = MISSING
    classes: Any = MISSING  # null, a list of names, or a text file of them
    class_map: dict[str, Any] = MISSING
    layer: str = MISSING
    input: InputConfig = field(default_factory=InputConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)


@dataclass
class MlflowConfig:
    tracking_uri: Optional[str] = MISSING
    experiment: str = MISSING
    registered_model: str = MISSING
    artifact_location: str = MISSING


@dataclass
class RayConfig:
    address: Optional[str] = MISSING
    workers: int = MISSING
    threads: int = MISSING


@dataclass
class ExtractConfig:
    split: str = MISSING
    layers: Optional[list[str]] = MISSING
    batch_size: int = MISSING
    dtype: str = MISSING
    ink_threshold: float = MISSING
    examples: int = MISSING
    progress: bool = MISSING
    engine: str = MISSING
    device: str = MISSING
    ray: RayConfig = field(default_factory=RayConfig)


@dataclass
class SampleConfig:
    count: int = MISSING
    weighting: str = MISSING
    class_filter: Optional[list[str]] = MISSING
    floor: float = MISSING


@dataclass
class LayoutConfig:
    method: str = MISSING
    n_neighbors: int = MISSING
    min_dist: float = MISSING
    metric: str = MISSING
    n_epochs: int = MISSING
    fit_sample: int = MISSING
    batch_size: int = MISSING
    fast: bool = MISSING
    align: bool = MISSING


@dataclass
class GridConfig:
    size: int = MISSING
    min_count: int = MISSING
    clip: float = MISSING


@dataclass
class IconsConfig:
    enabled: bool = MISSING
    kind: str = MISSING
    steps: int = MISSING
    batch_size: int = MISSING
    cos_power: float = MISSING
    size: Optional[int] = MISSING
    fragment: bool = MISSING


@dataclass
class ClustersConfig:
    method: str = MISSING
    k: int = MISSING
    space: str = MISSING
    normalize: bool = MISSING


@dataclass
class ExemplarsConfig:
    per_cluster: int = MISSING
    random: int = MISSING
    patch_scale: int = MISSING


@dataclass
class AtlasConfig:
    seed: int = MISSING
    sample: SampleConfig = field(default_factory=SampleConfig)
    layout: LayoutConfig = field(default_factory=LayoutConfig)
    grid: GridConfig = field(default_factory=GridConfig)
    icons: IconsConfig = field(default_factory=IconsConfig)
    clusters: ClustersConfig = field(default_factory=ClustersConfig)
    exemplars: ExemplarsConfig = field(default_factory=ExemplarsConfig)


@dataclass
class StrokesConfig:
    enabled: bool = MISSING
    similarity: float = MISSING


@dataclass
class SpreadConfig:
    enabled: bool = MISSING
    scope: str = MISSING
    neighbours: int = MISSING
    agreement: float = MISSING
    radius_quantile: float = MISSING
    members: bool = MISSING
    strokes: StrokesConfig = field(default_factory=StrokesConfig)


@dataclass
class FinetuneConfig:
    epochs: int = MISSING
    lr: float = MISSING
    head_lr: float = MISSING
    weight_decay: float = MISSING
    concept_weight: float = MISSING
    prototype_weight: float = MISSING
    prototype_temperature: float = MISSING
    freeze_after_layer: bool = MISSING
    stem: Optional[list[str]] = MISSING  # null: the network's own ``stem`` attribute
    unverified_weight: float = MISSING
    negative_weight: float = MISSING
    other_weight: float = MISSING
    other_unverified_weight: float = MISSING
    balanced: bool = MISSING
    spread: SpreadConfig = field(default_factory=SpreadConfig)
    background_weight: float = MISSING
    unlabeled_weight: float = MISSING
    batch_size: int = MISSING
    concept_batch_size: int = MISSING
    examples: int = MISSING
    progress: bool = MISSING


@dataclass
class RelianceConfig:
    enabled: bool = MISSING
    grow: int = MISSING


@dataclass
class EvaluateConfig:
    split: str = MISSING
    threshold: float = MISSING
    batch_size: int = MISSING
    iou_discovered: float = MISSING
    iou_resolution: str = MISSING
    examples: int = MISSING
    progress: bool = MISSING
    reliance: RelianceConfig = field(default_factory=RelianceConfig)


@dataclass
class ArtistConfig:
    budget: int = MISSING
    min_share: float = MISSING
    min_exemplars: int = MISSING
    split_k: int = MISSING
    max_actions: int = MISSING
    clear_share: float = MISSING
    split: str = MISSING
    split_depth: int = MISSING
    name_unticked: int = MISSING
    novel: str = MISSING
    held_at: int = MISSING
    actor: str = MISSING


@dataclass
class LabelingConfig:
    host: str = MISSING
    port: int = MISSING
    token: Optional[str] = MISSING
    max_request_bytes: int = MISSING
    exemplars: int = MISSING
    patch_scale: int = MISSING
    split_k: int = MISSING
    artist: ArtistConfig = field(default_factory=ArtistConfig)


@dataclass
class CanonConfig:
    max_per_class: int = MISSING
    relevant_share: float = MISSING
    complete_quantile: float = MISSING
    batch_size: int = MISSING


@dataclass
class EventsConfig:
    improved_by: str = MISSING
    improved_share: float = MISSING
    improved_min: float = MISSING
    missing_level: float = MISSING


@dataclass
class LimitsConfig:
    max_strokes: int = MISSING
    max_points: int = MISSING
    margin: float = MISSING


@dataclass
class CoachConfig:
    score: str = MISSING
    canon_split: str = MISSING
    canon: CanonConfig = field(default_factory=CanonConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    top_classes: int = MISSING
    throttle_ms: int = MISSING


@dataclass
class ArticulateConfig:
    """The whole configuration: one field per group of ``conf/``, then the top-level settings."""

    paths: PathsConfig = field(default_factory=PathsConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    trainer: dict[str, Any] = MISSING  # a _target_ (lightning.Trainer) and its arguments
    mlflow: MlflowConfig = field(default_factory=MlflowConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    atlas: AtlasConfig = field(default_factory=AtlasConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    labeling: LabelingConfig = field(default_factory=LabelingConfig)
    coach: CoachConfig = field(default_factory=CoachConfig)
    round: int = MISSING
    seed: int = MISSING
    threads: int = MISSING
    resume: bool = MISSING


def register() -> None:
    """Store the schema in Hydra's ConfigStore (idempotent), where ``conf/config.yaml`` finds it."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name=SCHEMA_NAME, node=ArticulateConfig)

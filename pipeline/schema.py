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

import inspect
from dataclasses import dataclass, field
from typing import Any, Optional, TypeVar

from omegaconf import MISSING

__all__ = ["ArticulateConfig", "Conf", "SCHEMA_NAME", "TARGET_NODES", "arguments", "configured", "default",
           "default_config", "register"]

T = TypeVar("T")
_ABSENT = object()  # a key conf/ does not hold

#: The schema's name in Hydra's ConfigStore, as ``conf/config.yaml`` names it.
SCHEMA_NAME = "articulate_schema"
#: Nodes built by ``hydra.utils.instantiate``: their keys are checked against their ``_target_``'s signature.
TARGET_NODES = ("data.source", "model.net", "trainer")


@dataclass
class PathsConfig:
    """Where things are read and written, relative to the project folder (where ``dvc.yaml`` is).

    Attributes:
        dataset: The data stage's output: the split files and the manifest.
        models: Trained models, one folder per round (``base/``, ``round_<r>/``).
        checkpoints: Lightning checkpoints of an unfinished training, to resume it (not tracked).
        cache: Derived files kept between commands: composed configs, the coach's canons, feature
            visualizations (safe to delete; not tracked).
        activations: Extracted activations, one folder per round.
        atlases: Built atlases, one folder per round.
        evaluation: Metrics and figures, one folder per round.
        quickdraw: The folder of real Quick, Draw! files (``ndjson/``, ``bitmap/``) that ``data=quickdraw`` and
            ``data=bitmap`` read.
        quickdraw_fetched: Where ``articulate data fetch quickdraw`` downloads (into its ``ndjson/``, the layout of
            ``quickdraw``: ``paths.quickdraw=<this folder>`` makes ``data=quickdraw`` read what was fetched).
        concepts: The concept store's file (git-tracked); its event log ``concepts.events.jsonl`` lies beside it.
        user_code: Folders searched for your own modules (models, readers) named by a ``_target_``; the project
            folder is always searched.
    """

    dataset: str = MISSING
    models: str = MISSING
    checkpoints: str = MISSING
    cache: str = MISSING
    activations: str = MISSING
    atlases: str = MISSING
    evaluation: str = MISSING
    quickdraw: str = MISSING
    quickdraw_fetched: str = MISSING
    concepts: str = MISSING
    user_code: list[str] = MISSING


@dataclass
class DataConfig:
    """The data stage: where the drawings come from and how they are split and batched.

    Attributes:
        name: The dataset's name, recorded in its manifest.
        source: What makes the drawings: a ``_target_`` (the generator or a file reader) and its arguments,
            checked against the target's signature.
        splits: Shares of the drawings in the train, val and test splits (they sum to 1).
        batch_size: Drawings per batch when the base model trains.
        num_workers: DataLoader worker processes (0: load in the training process).
    """

    name: str = MISSING
    source: dict[str, Any] = MISSING  # a _target_ and its arguments
    splits: dict[str, float] = MISSING
    batch_size: int = MISSING
    num_workers: int = MISSING


@dataclass
class InputConfig:
    """How a drawing is rendered for the model: what the model takes as input.

    Attributes:
        size: Side of the square input image, in pixels; a model made for another size fails at once.
        channels: Image channels (1 for sketch models, 3 for ImageNet models).
        invert: False: white ink on black; true: dark ink on white, like photographs.
        mean: Per-channel mean subtracted after rendering.
        std: Per-channel standard deviation divided by after rendering.
        line_width: Stroke width, in input pixels.
    """

    size: int = MISSING
    channels: int = MISSING
    invert: bool = MISSING
    mean: list[float] = MISSING
    std: list[float] = MISSING
    line_width: float = MISSING


@dataclass
class OptimizerConfig:
    """How the base model trains (AdamW).

    Attributes:
        lr: Peak learning rate.
        weight_decay: AdamW weight decay.
        scheduler: ``onecycle`` (warm up, then anneal over the whole run: fastest to high accuracy from
            scratch), ``cosine`` (anneal from ``lr``) or ``none``.
        label_smoothing: Label smoothing of the cross-entropy, in [0, 1).
    """

    lr: float = MISSING
    weight_decay: float = MISSING
    scheduler: str = MISSING
    label_smoothing: float = MISSING


@dataclass
class ModelConfig:
    """The model: what network, which weights, which classes, and which layer the atlas looks into.

    Attributes:
        name: The model's name; the MLflow registered model is ``articulate-<name>``.
        net: What builds the network: a ``_target_`` and its arguments (it also receives ``num_classes``),
            checked against the target's signature.
        checkpoint: Weights to start from (a state dict, a Lightning checkpoint or ``{"model": ...}``); null: none.
        pretrained: True: the train_base stage imports the model as it is (its own classes, no training)
            instead of training it.
        classes: The model's class names in output order (a list, or a text file of one name a line); null:
            the dataset's classes. Pretrained models only.
        class_map: Dataset class -> the model's class name(s), where the names differ. Pretrained models only.
        layer: The atlas layer, as a module path (``articulate layers`` lists them): the one key naming it for
            every stage.
        input: How drawings are rendered for this model.
        optimizer: How the base model trains.
    """

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
    """MLflow tracking: where runs and registered models go.

    Attributes:
        tracking_uri: The tracking store; null: ``$MLFLOW_TRACKING_URI`` when set, else the SQLite file
            ``mlflow.db`` in the project folder.
        experiment: The experiment that holds the rounds' runs.
        registered_model: The registered model of every round (round r is its alias ``round-<r>``).
        artifact_location: Where run artifacts are stored, relative to the project folder.
    """

    tracking_uri: Optional[str] = MISSING
    experiment: str = MISSING
    registered_model: str = MISSING
    artifact_location: str = MISSING


@dataclass
class RayConfig:
    """Extraction on Ray (``extract.engine: ray``).

    Attributes:
        address: A Ray cluster to join (``ray://host:10001`` or ``auto``); null: ``$RAY_ADDRESS``, else a local
            Ray started for the stage and stopped after it.
        workers: Ray actors, each holding the model (a local Ray gets workers x threads CPUs).
        threads: Torch threads (and CPUs) per actor.
    """

    address: Optional[str] = MISSING
    workers: int = MISSING
    threads: int = MISSING


@dataclass
class ExtractConfig:
    """The extract stage: activations, ink, true parts and attribution of every drawing of one split.

    Attributes:
        split: The split the atlas shows and concepts are named on (train, val or test); val keeps the test
            split unseen for the evaluate stage.
        layers: Layers to extract, as module paths; null: the atlas layer (``model.layer``).
        batch_size: Drawings per forward and backward pass; memory grows with it, not with the split.
        dtype: Storage dtype of the activations: float16 (half the disk) or float32.
        ink_threshold: A pixel is ink at this coverage or more; a position has ink when its stride cell has an
            ink pixel.
        examples: Drawings shown in the attribution figure (``attribution.png``).
        progress: Show a progress bar.
        engine: ``local`` (this process) or ``ray`` (the split in shards over Ray actors).
        device: Where the local engine runs the model: ``auto`` (a GPU when torch sees one, else the CPU),
            ``cpu``, ``cuda`` or ``cuda:N``.
        ray: The Ray engine's settings.
    """

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
    """Which positions of the activation store the atlas shows.

    Attributes:
        count: Ink positions to sample (all of them, with a warning, when fewer exist).
        weighting: ``uniform``, ``attribution`` (probability proportional to positive attribution) or
            ``unexplained`` (attribution x (1 - the highest concept probability of the round's head), so that
            from round 1 the atlas shows mostly what no concept explains yet; round 0: attribution).
        class_filter: Class names: only positions of those classes, weighted by attribution to them; null: all.
        floor: The unexplained weighting's least factor, ``max(1 - p, floor)``, so that positions a concept
            explains can still be drawn.
    """

    count: int = MISSING
    weighting: str = MISSING
    class_filter: Optional[list[str]] = MISSING
    floor: float = MISSING


@dataclass
class LayoutConfig:
    """The 2-D map of the sampled positions.

    Attributes:
        method: ``umap``, or ``pca`` (fast and deterministic, for tests and quick looks).
        n_neighbors: UMAP's neighbourhood size: larger keeps more global structure.
        min_dist: UMAP's minimum distance between points, 0..1: smaller packs clusters tighter.
        metric: Distance between activations: cosine, euclidean, correlation or manhattan.
        n_epochs: UMAP optimisation epochs; null: umap-learn's own choice.
        fit_sample: Fit the layout on at most this many positions and place the rest at the weighted mean of
            their nearest fitted neighbours (for atlases of a million positions).
        batch_size: Positions placed per batch, so memory stays bounded whatever the sample size.
        fast: True: UMAP unseeded on every core (umap-learn runs on one thread when seeded); the layout then
            differs from run to run.
        align: Turn, scale and shift the map onto the previous round's (on the positions both sampled), so what
            moved between rounds is what fine-tuning moved.
    """

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
    """The grid of cells laid over the map.

    Attributes:
        size: G: the atlas is a G x G grid over the 2-D layout.
        min_count: A cell gets an icon when it holds at least this many points.
        clip: Share of points at each end of each axis left outside the grid (in its border cells), so a few
            far-flung points do not squeeze the dense region into a few cells.
    """

    size: int = MISSING
    min_count: int = MISSING
    clip: float = MISSING


@dataclass
class IconStrokesConfig:
    """Feature visualizations drawn as pen strokes (``param=strokes``): the control points of a few polylines are
    optimised, drawn by a differentiable soft rasteriser.

    Attributes:
        count: Strokes per image.
        points: Control points per stroke (Bezier curves: 3M + 1, M cubic pieces).
        curve: ``polyline`` (straight segments between the points) or ``bezier`` (smooth cubic pieces).
        samples: Bezier curves: points drawn per cubic piece.
        softness: Edge softness while optimising, in pixels (0: the raster's own anti-aliased edge).
        jitter: Robustness: each control point moves by up to this (0..255 units) every step.
        scale: Robustness: the whole drawing scales by up to this share every step.
        rotate: Robustness: the whole drawing turns by up to this many degrees every step.
        translate: Robustness: the whole drawing moves by up to this (0..255 units) along each axis every step.
        lr: Adam learning rate, in units of the drawing box's side.
        spread: The initial strokes start within this distance (0..255 units) of the centre.
        length: The initial strokes are about this long (0..255 units).
        smooth: Weight of a penalty on sharp turns (squared second differences of the points); 0: none.
    """

    count: int = MISSING
    points: int = MISSING
    curve: str = MISSING
    samples: int = MISSING
    softness: float = MISSING
    jitter: float = MISSING
    scale: float = MISSING
    rotate: float = MISSING
    translate: float = MISSING
    lr: float = MISSING
    spread: float = MISSING
    length: float = MISSING
    smooth: float = MISSING


@dataclass
class IconsConfig:
    """What each cell of the atlas shows.

    Attributes:
        enabled: False: blank tiles.
        kind: ``exemplar`` (the real drawing fragment nearest to the cell's mean activation, drawn sharp with
            the position marked), ``featurevis`` (a feature visualization of the mean direction, as in the
            Activation Atlas; on sketch models these are stroke textures) or ``strokes`` (the same visualization
            drawn as a few pen strokes: a small drawing per cell, for sketch models).
        steps: Feature visualization (pixels or strokes): optimisation steps per batch of icons.
        batch_size: Feature visualization (pixels or strokes): icons rendered together in one batched optimisation.
        cos_power: Feature visualization: p of the direction objective dot x cosine^p.
        size: Icon side in pixels; null: the model's input size.
        fragment: Feature visualization: true drives the direction at the centre position only and shows its
            receptive field (a fragment); false drives it at every position (a texture).
        strokes: Feature visualizations drawn as strokes.
    """

    enabled: bool = MISSING
    kind: str = MISSING
    steps: int = MISSING
    batch_size: int = MISSING
    cos_power: float = MISSING
    size: Optional[int] = MISSING
    fragment: bool = MISSING
    strokes: IconStrokesConfig = field(default_factory=IconStrokesConfig)


@dataclass
class ClustersConfig:
    """The clusters of the sampled positions, which the page offers as selections.

    Attributes:
        method: ``kmeans``, ``minibatch`` (mini-batch k-means, for large samples), ``agglomerative`` (Ward) or
            ``gmm`` (Gaussian mixture).
        k: Number of clusters.
        space: ``activations``, or ``umap`` (cluster the 2-D layout instead).
        normalize: L2-normalise the activation vectors before clustering.
    """

    method: str = MISSING
    k: int = MISSING
    space: str = MISSING
    normalize: bool = MISSING


@dataclass
class ExemplarsConfig:
    """The exemplar patches of each cluster written with the atlas.

    Attributes:
        per_cluster: Exemplar patches per cluster: the positions nearest to its centre.
        random: Extra exemplars drawn at random from the rest of the cluster.
        patch_scale: Patch pixels per input pixel (receptive-field crops are small).
    """

    per_cluster: int = MISSING
    random: int = MISSING
    patch_scale: int = MISSING


@dataclass
class AtlasConfig:
    """The atlas stage: how a round's activation atlas is built from its activation store.

    Attributes:
        seed: Seed of sampling, UMAP, clustering and icon rendering.
        layers: Extra layers to map besides ``model.layer``, as module paths, each in
            ``atlases/round_<r>/layers/<layer>/`` (the extract stage extracts them too); null or empty: none.
        sample: Which positions are shown.
        layout: The 2-D map.
        grid: The grid of cells over the map.
        icons: What each cell shows.
        clusters: The clusters of the positions.
        exemplars: The exemplar patches of each cluster.
    """

    seed: int = MISSING
    layers: Optional[list[str]] = MISSING
    sample: SampleConfig = field(default_factory=SampleConfig)
    layout: LayoutConfig = field(default_factory=LayoutConfig)
    grid: GridConfig = field(default_factory=GridConfig)
    icons: IconsConfig = field(default_factory=IconsConfig)
    clusters: ClustersConfig = field(default_factory=ClustersConfig)
    exemplars: ExemplarsConfig = field(default_factory=ExemplarsConfig)


@dataclass
class StrokesConfig:
    """Growing each kept exemplar along its stroke, within the same drawing.

    Attributes:
        enabled: Grow the exemplars (drawings without strokes are not grown).
        similarity: Grow while the layer's activation stays at least this alike (cosine) to the exemplar's: the
            bound that stops growth where one stroke runs into another part.
    """

    enabled: bool = MISSING
    similarity: float = MISSING


@dataclass
class SpreadConfig:
    """Spreading the labels to near neighbours in the base model's activation space.

    Attributes:
        enabled: Spread the labels (the spread positions are unverified positives).
        scope: ``labelled`` (over the splits the concepts were named on) or ``all`` (every split but test).
        neighbours: Labelled positions consulted per position.
        agreement: Share of them that must be positives of one concept.
        radius_quantile: And no farther from them than this quantile of the concept's own spacing.
        members: True: keep a promoted selection's members nobody looked at as unverified positives; false: only
            the exemplars the person kept, and what grows and spreads from them.
        strokes: Growing the exemplars along their strokes first.
    """

    enabled: bool = MISSING
    scope: str = MISSING
    neighbours: int = MISSING
    agreement: float = MISSING
    radius_quantile: float = MISSING
    members: bool = MISSING
    strokes: StrokesConfig = field(default_factory=StrokesConfig)


@dataclass
class FinetuneConfig:
    """The finetune stage: the base model plus a concept head on the atlas layer, trained on every concept.

    The concept loss is ``sum(weight * BCE) / sum(weight)`` over the labelled drawings' positions. A concept's
    positives have target 1 and weight 1; every other position of a labelled drawing has target 0 and the weight
    (relative to a positive's) of the first rule that applies, the ``*_weight`` keys below.

    Attributes:
        epochs: Passes over the train split (each step also takes a batch of concept-labelled drawings).
        lr: Peak learning rate of the network: the layers up to the atlas layer must move toward the concepts,
            yet slowly enough that class accuracy stays within a point of the base's.
        head_lr: Peak learning rate of the new concept head; both rates anneal to 0 (cosine) over the run.
        weight_decay: AdamW weight decay.
        concept_weight: Lambda in ``loss = class cross-entropy + concept_weight * concept loss``.
        prototype_weight: The prototype term at the atlas layer, which gathers each concept's positions around
            its prototype and separates the concepts (0: off).
        prototype_temperature: Its softmax temperature over cosine similarities.
        freeze_after_layer: True: fix the layers after the atlas layer (weights, BatchNorm statistics,
            dropout); the layers up to it train.
        stem: Modules kept as the base trained them (the backward pass stops before them); null: the network's
            own ``stem`` attribute (SketchCNN: its first block); ``[]``: none.
        unverified_weight: Positives nobody looked at (beyond the exemplars the person saw and kept).
        negative_weight: Exemplars the person unticked for this concept: as sure as a positive.
        other_weight: Verified positives of another concept: the person called them something else.
        other_unverified_weight: Positives of another concept that nobody looked at.
        balanced: True: each concept's positives and negatives weigh half of its loss each, however many
            negatives there are.
        spread: Spreading the labels to near neighbours.
        background_weight: Positions whose stride cell has no ink: a concept is about strokes; weak, since empty
            cells are plentiful.
        unlabeled_weight: Any other ink position: unknown (the person never looked at it).
        drawing_unlabeled_weight: For a drawing-level concept (trained on the layer pooled over each drawing's ink):
            the weight of a labelled drawing it neither has nor lacks (target 0): one the person saw elsewhere.
        batch_size: Train-split drawings per step (class loss).
        concept_batch_size: Concept-labelled drawings per step (concept loss, and class loss unless they are in
            the test split).
        examples: Labelled drawings per concept in ``concept_maps.png``.
        progress: Show a progress bar.
    """

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
    drawing_unlabeled_weight: float = MISSING
    batch_size: int = MISSING
    concept_batch_size: int = MISSING
    examples: int = MISSING
    progress: bool = MISSING


@dataclass
class RelianceConfig:
    """Which concepts the model relies on: each erased from the atlas layer where it fires.

    Attributes:
        enabled: Measure it (``concept_reliance/<concept>``, ``figures/reliance.png``).
        grow: Also erase this many positions around where the concept fires.
    """

    enabled: bool = MISSING
    grow: int = MISSING


@dataclass
class EvaluateConfig:
    """The evaluate stage: the round's metrics on an unseen split.

    Attributes:
        split: The split to measure on (the atlas and the concepts use val, so test stays unseen).
        threshold: A concept is predicted at a position where its sigmoid is at least this.
        batch_size: Drawings per forward pass; memory grows with it, not with the split.
        iou_discovered: A true part is discovered when some concept has at least this IoU with it.
        iou_resolution: ``pixel`` (IoU over the ink pixels, maps upsampled, as Network Dissection measures it)
            or ``cell`` (per stride cell).
        examples: Drawings per concept in ``figures/concept_maps.png`` (those of highest presence).
        progress: Show a progress bar.
        reliance: The reliance check.
    """

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
    """The simulated artist: plays a labeling session with the generator's true part labels.

    Attributes:
        budget: Exemplar patches it looks at per cluster (what a person sees of it).
        min_share: It promotes a selection when its majority part holds at least this share of the exemplars.
        min_exemplars: Selections with fewer exemplars are skipped (a piece of a few points is no concept).
        split_k: It cuts a mixed selection into this many pieces, each judged on its own exemplars.
        max_actions: The most actions (promotes, adds, unticks) of one session: a person's patience.
        clear_share: A cluster whose majority part has less of its exemplars is also looked at in pieces; the
            clearest selections (highest share of one part) are labelled first.
        split: How it cuts a mixed cluster: ``subclusters`` (the Sub-clusters button: k-means of the
            activations, what the layer tells apart) or ``map`` (regions of the map, as a lasso cuts).
        split_depth: A piece still mixed is cut again, this many times in all.
        name_unticked: After labelling a selection, its unticked exemplars of one part, at least this many, are
            named too (as "Select the unticked", then Add or Promote); 0: never.
        novel: What it labels first, before more of what the concepts hold: ``part`` (a part no concept is
            named after) or ``class`` (also a named part in a class none of its concept's positions come from).
        held_at: With ``novel: class``, a concept holds a class from this many verified positions of it; 0:
            from ``min_exemplars`` positions, verified or not.
        noise: The share of its judgments of exemplars that are wrong (a part taken for another part of its
            drawing's class, decided per position and seed); 0: the oracle of true parts.
        synonyms: Name a part by its synonyms in turn (``labeling/artist.py``: ``SYNONYMS``), so one part is
            promoted under several names unless something catches it.
        follow: What it looks at: ``clusters`` (every cluster and its pieces, then the clearest first) or
            ``suggestions`` (the page's ranked suggestions, one at a time, until none is left).
        review: After labelling, the most review-queue items it judges (each fix it takes is one action); 0: never.
        attributes: Also name drawing attributes that dominate a selection's exemplars' drawings, as
            drawing-level concepts ("facing left"), after the parts; off: parts only.
        attribute_share: A value dominates from this share of the exemplars' drawings that record the attribute.
        attribute_lift: And this much above its share of all the atlas's drawings.
        seed: Decides which judgments are wrong, and which synonym comes first.
        actor: The name its changes carry in the concept store's event log.
    """

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
    noise: float = MISSING
    synonyms: bool = MISSING
    follow: str = MISSING
    review: int = MISSING
    attributes: bool = MISSING
    attribute_share: float = MISSING
    attribute_lift: float = MISSING
    seed: int = MISSING
    actor: str = MISSING


@dataclass
class LabelingTimeoutsConfig:
    """How long the labeling server waits for a slow client before closing its connection.

    Attributes:
        header_s: Seconds for the request line and headers to arrive.
        body_s: Seconds for the body to arrive after the headers (then 408).
        keep_alive_s: Seconds an open connection may wait idle for its next request.
        max_header_bytes: Larger request lines and headers are refused (400).
    """

    header_s: float = MISSING
    body_s: float = MISSING
    keep_alive_s: float = MISSING
    max_header_bytes: int = MISSING


@dataclass
class LabelingLimitsConfig:
    """What one request to the labeling app may ask for; the pages read these (``GET /api/limits``).

    Attributes:
        edits: Edits in one stack (``POST /api/edit``).
        factor: The largest ``|factor|`` of an edit.
        dream_octaves: Octaves of a dream (fewer where the model's input is too small for them).
        dream_steps: Gradient steps per octave of a dream.
        visualize_steps_min: Fewest gradient steps of a feature visualization.
        visualize_steps_max: Most gradient steps of a feature visualization.
    """

    edits: int = MISSING
    factor: float = MISSING
    dream_octaves: int = MISSING
    dream_steps: int = MISSING
    visualize_steps_min: int = MISSING
    visualize_steps_max: int = MISSING


@dataclass
class PreviewConfig:
    """A concept's preview after a promote or add: a linear probe on the round's atlas layer.

    Attributes:
        exemplars: Points in each strip (the surest it claims, the borderline ones).
        folds: Folds of its cross-validation by drawing (its agreement with the label).
        background: The labelled drawings' other points taken as negatives, at most this many times the positives.
        regularization: The logistic regression's ``C`` (inverse regularisation strength).
        threshold: It claims a point from this probability.
    """

    exemplars: int = MISSING
    folds: int = MISSING
    background: float = MISSING
    regularization: float = MISSING
    threshold: float = MISSING


@dataclass
class ReviewConfig:
    """The review queue: the labels most likely wrong, and concepts that are probably one.

    Attributes:
        disagree: A label is listed when the concept's probe fitted without its drawing (or the round's concept head)
            gives it at most ``1 - disagree`` (a positive) or at least ``disagree`` (a negative).
        move: A listed positive that another concept's probe claims from this probability is proposed to move
            there; else to be unticked.
        names: Two concepts whose names are at least this alike are proposed to merge.
        direction: Or whose directions (their positives' mean activation less the atlas's) have at least this
            cosine.
        items: The most items listed, likeliest first.
    """

    disagree: float = MISSING
    move: float = MISSING
    names: float = MISSING
    direction: float = MISSING
    items: int = MISSING


@dataclass
class SuggestionsConfig:
    """What the page suggests looking at next, ranked by the attribution it carries.

    Attributes:
        unnamed: A cluster is an unnamed region when at least this share of its points is in no concept.
        border: A concept's uncertain border: points its probe gives a probability within this of its threshold.
        least: A suggestion holds at least this many points.
        items: The most suggestions listed.
    """

    unnamed: float = MISSING
    border: float = MISSING
    least: int = MISSING
    items: int = MISSING


@dataclass
class LabelingConfig:
    """The artist's room: the labeling app (``articulate label``), the concept commands and the simulated artist.

    Attributes:
        host: The address the app binds; loopback only by default, any other address requires a token.
        port: The app's port.
        token: Access token; null: none on loopback, a random one (printed) on other addresses.
        max_request_bytes: Larger request bodies are refused (413).
        min_token_length: A token shorter than this is refused at start.
        max_file_bytes: The largest drawing file a command reads (``--sketch FILE.ndjson:KEY``, ``--reference``).
        timeouts: How long the server waits for a slow client.
        limits: What one request may ask for.
        exemplars: Exemplar patches shown for a selection (the positions nearest its mean activation).
        patch_scale: Patch pixels per input pixel: the atlas's ``exemplars.patch_scale`` (an interpolation).
        split_k: Sub-clusters when a concept or a selection is split by sub-clustering (the page may ask for
            another number).
        preview: A concept's preview probe after a promote or add.
        review: The review queue (labels most likely wrong, concepts probably one).
        suggestions: What the page suggests looking at next.
        artist: The simulated artist.
    """

    host: str = MISSING
    port: int = MISSING
    token: Optional[str] = MISSING
    max_request_bytes: int = MISSING
    min_token_length: int = MISSING
    max_file_bytes: int = MISSING
    timeouts: LabelingTimeoutsConfig = field(default_factory=LabelingTimeoutsConfig)
    limits: LabelingLimitsConfig = field(default_factory=LabelingLimitsConfig)
    exemplars: int = MISSING
    patch_scale: int = MISSING
    split_k: int = MISSING
    preview: PreviewConfig = field(default_factory=PreviewConfig)
    review: ReviewConfig = field(default_factory=ReviewConfig)
    suggestions: SuggestionsConfig = field(default_factory=SuggestionsConfig)
    artist: ArtistConfig = field(default_factory=ArtistConfig)


@dataclass
class CanonConfig:
    """The canon: each concept's scores over complete drawings of each class, computed once per round.

    Attributes:
        max_per_class: Complete drawings read per class.
        relevant_share: A concept belongs to a class when at least this share of its drawings have it.
        complete_quantile: A concept "looks complete" at the level of this quantile of the canon's scores.
        batch_size: Drawings per forward pass while the canon is built.
    """

    max_per_class: int = MISSING
    relevant_share: float = MISSING
    complete_quantile: float = MISSING
    batch_size: int = MISSING


@dataclass
class EventsConfig:
    """The coach's events between successive frames, in canon levels (1 = a typical complete drawing).

    Attributes:
        improved_by: ``stroke`` (judge what the last stroke itself drew) or ``change`` (the rise of the whole
            drawing: a stroke can also make the model see a part drawn earlier).
        improved_share: "Improved" when the level rose by at least this share of what a stroke that draws the
            concept typically adds in the canon.
        improved_min: And by at least this much.
        missing_level: "Missing" while a concept of the target class is below this level.
    """

    improved_by: str = MISSING
    improved_share: float = MISSING
    improved_min: float = MISSING
    missing_level: float = MISSING


@dataclass
class LimitsConfig:
    """What one drawing sent to the coach may hold; larger requests are refused with a clear answer.

    Attributes:
        max_strokes: Strokes per drawing.
        max_points: Points per drawing, all strokes together.
        margin: Drawing units a point may lie outside the 0..255 canvas.
    """

    max_strokes: int = MISSING
    max_points: int = MISSING
    margin: float = MISSING


@dataclass
class UnsureConfig:
    """When the coach says "I'm not sure what this is yet": calibrated probabilities and a familiarity threshold.

    Attributes:
        familiarity: The out-of-distribution score it reads: ``energy`` (``T * logsumexp(logits / T)``), ``msp``
            (the top calibrated class probability), ``mahalanobis`` (minus the distance of the pooled
            atlas-layer activation to the nearest class mean, shared covariance) or ``combined`` (energy and
            mahalanobis, each standardised over the val drawings, summed).
        val_pass: The threshold is the familiarity this share of the complete val drawings reach.
        fit_split: The split whose drawings fit the Mahalanobis class means and covariance.
        max_per_class: Drawings per class read from each split for the fit.
        transform: ``none`` or ``sqrt``: the pooled activation's signed square root before the Mahalanobis
            distance.
    """

    familiarity: str = MISSING
    val_pass: float = MISSING
    fit_split: str = MISSING
    max_per_class: int = MISSING
    transform: str = MISSING


@dataclass
class ShowMeConfig:
    """"Show me" on the drawing page: strokes added to the person's drawing to raise a concept it lacks.

    Attributes:
        strokes: Strokes added.
        steps: Optimisation steps.
    """

    strokes: int = MISSING
    steps: int = MISSING


@dataclass
class CoachConfig:
    """The drawing coach (``articulate feedback``, the app's ``/draw`` page).

    Attributes:
        score: How much of a concept a frame has: ``mass`` (its map summed over the ink positions) or
            ``attribution`` (weighted by each position's positive attribution to the target class).
        canon_split: The split whose complete drawings make the canon.
        canon: The canon of complete drawings.
        events: When the coach says "improved", "complete" and "missing".
        limits: What one drawing may hold.
        unsure: When the coach is not sure what a drawing is (temperature and familiarity threshold).
        top_classes: Class probabilities reported per frame.
        threads: Torch intra-op threads of a live update and a replay, on the coach's own inference thread (the
            rest of the process keeps ``threads``); 0: one per core.
        throttle_ms: The page asks for feedback during a stroke at most every this many milliseconds (after a
            stroke: always).
        show_me: "Show me": strokes added to the person's drawing to raise a concept it lacks.
    """

    score: str = MISSING
    canon_split: str = MISSING
    canon: CanonConfig = field(default_factory=CanonConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    unsure: UnsureConfig = field(default_factory=UnsureConfig)
    top_classes: int = MISSING
    threads: int = MISSING
    throttle_ms: int = MISSING
    show_me: ShowMeConfig = field(default_factory=ShowMeConfig)


@dataclass
class FetchConfig:
    """Downloads of public data into the project (``articulate data fetch``).

    Attributes:
        quickdraw_url: Where the Quick, Draw! "simplified" files are: ``<quickdraw_url>/<class>.ndjson``, the class
            name URL-quoted.
        timeout_s: Seconds without an answer, or without a byte, before a connection counts as lost.
        retries: Times a lost connection is resumed (HTTP Range) in one run before the command gives up.
        chunk_bytes: Bytes read and written at a time.
    """

    quickdraw_url: str = MISSING
    timeout_s: float = MISSING
    retries: int = MISSING
    chunk_bytes: int = MISSING


@dataclass
class ArticulateConfig:
    """The whole configuration: one field per group of ``conf/``, then the top-level settings.

    Attributes:
        paths: Where things are read and written.
        data: The drawings and their splits.
        model: The network, its weights and its atlas layer.
        trainer: Keyword arguments of ``lightning.Trainer`` (a ``_target_`` and its arguments); the stage adds
            the logger and callbacks.
        mlflow: MLflow tracking.
        extract: The extract stage.
        atlas: The atlas stage.
        finetune: The finetune stage.
        evaluate: The evaluate stage.
        labeling: The labeling app and the simulated artist.
        coach: The drawing coach.
        fetch: Downloads of public data (``articulate data fetch``).
        round: The round of the loop: round 0 is the base model; each fine-tune makes the next one.
        seed: Seed of generation, splits, weight initialisation and data order.
        threads: Torch CPU threads per process; 0 uses every core.
        resume: Resume an interrupted training from its last checkpoint when the configuration is unchanged.
    """

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
    fetch: FetchConfig = field(default_factory=FetchConfig)
    round: int = MISSING
    seed: int = MISSING
    threads: int = MISSING
    resume: bool = MISSING


def register() -> None:
    """Store the schema in Hydra's ConfigStore (idempotent), where ``conf/config.yaml`` finds it."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name=SCHEMA_NAME, node=ArticulateConfig)


class Conf:
    """Where a configurable class finds its parameters in the composed configuration: the class's ``CONF``.

    A parameter ``p`` is the key ``<node>.<p>`` unless ``keys`` names another (a key of another group, or one
    named differently); a parameter whose type is itself a configurable class is built from its own ``CONF``.
    conf/ is the only source of the values: a configurable class has no default for a key conf/ holds.

    Args:
        node: The dotted key of the class's group (``"labeling.artist"``).
        runtime: Parameters made at run time (a model, a scorer), never read from conf/: the caller gives them
            (a key of the same name there may be something else: ``coach.canon`` is how the canon is built).
        **keys: Parameter -> the dotted key it is read from, where that is not ``<node>.<parameter>``.
    """

    def __init__(self, node: str, *, runtime: tuple[str, ...] = (), **keys: str) -> None:
        self.node = node
        self.runtime = runtime
        self.keys = keys

    def key(self, parameter: str) -> str:
        """The dotted key a parameter is read from."""
        return self.keys.get(parameter, f"{self.node}.{parameter}")

    def __repr__(self) -> str:
        return f"Conf({self.node!r}, runtime={self.runtime!r}, **{self.keys!r})"


def _nested(cls: type) -> dict[str, type]:
    """The parameters of ``cls`` whose type is itself a configurable class (built from its own ``CONF``)."""
    import sys

    names = vars(sys.modules[cls.__module__])
    nested = {}
    for name, parameter in inspect.signature(cls).parameters.items():
        hint = parameter.annotation
        if isinstance(hint, str):  # postponed annotations: one name each, or what is not a class
            hint = names.get(hint)
        if isinstance(hint, type) and isinstance(getattr(hint, "CONF", None), Conf):
            nested[name] = hint
    return nested


def arguments(cls: type, cfg: Any, /, **given: Any) -> dict[str, Any]:
    """The keyword arguments :func:`configured` builds ``cls`` with: each parameter conf/ holds, read from it (one
    whose type is a configurable class built from that class's ``CONF``), then ``given``.

    The values come typed as the schema declares them (composing checked and converted them), so nothing is cast
    here; a parameter conf/ does not hold, or one made at run time (``CONF.runtime``), keeps the class's own
    default or must be given.

    Args:
        cls: A class with a ``CONF`` (:class:`Conf`).
        cfg: The composed configuration (:func:`pipeline.config.compose`, or a stage's).
        **given: Parameters given here instead (a command-line option, an object made at run time): they win.
    """
    from omegaconf import Container, OmegaConf

    conf: Conf = cls.CONF  # type: ignore[attr-defined]
    nested = _nested(cls)
    values: dict[str, Any] = {}
    for name, parameter in inspect.signature(cls).parameters.items():
        if name in given or name in conf.runtime or parameter.kind in (parameter.VAR_POSITIONAL,
                                                                       parameter.VAR_KEYWORD):
            continue
        if name in nested:
            values[name] = configured(nested[name], cfg)
            continue
        value = OmegaConf.select(cfg, conf.key(name), default=_ABSENT)
        if value is not _ABSENT:
            values[name] = OmegaConf.to_container(value, resolve=True) if isinstance(value, Container) else value
    return {**values, **given}


def configured(cls: type[T], cfg: Any, /, **given: Any) -> T:
    """Build a configurable class from the composed configuration: the single typed constructor of every class
    with a ``CONF``.

    Args:
        cls: A class with a ``CONF`` (:class:`Conf`).
        cfg: The composed configuration (:func:`pipeline.config.compose`, or a stage's).
        **given: Parameters given here instead (a command-line option, an object made at run time): they win.

    Returns:
        The object, as ``cls(**arguments(cls, cfg, **given))`` builds it (its own checks of ranges and choices run
        there).
    """
    return cls(**arguments(cls, cfg, **given))

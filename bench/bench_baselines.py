"""Benchmark: what does the person add over automatic concept discovery?

The loop's concepts come from a person's (or the simulated artist's) labels on the atlas layer. This fits three
automatic concept-discovery methods to the same layer of the same base model, on the same data, with as many
concepts as the loop's round, and measures them as the evaluate stage measures the loop:

- ``kmeans`` (ACE-like, Ghorbani et al. 2019): k-means of the layer's activation vectors at ink positions; a
  component's map is 1 at the positions whose nearest centre it is;
- ``nmf`` (CRAFT-like, Fel et al. 2023): non-negative matrix factorisation of the (non-negative, post-ReLU)
  activations, scikit-learn's ``NMF``; a component's map is its coefficient at each position;
- ``sae``: a top-k sparse autoencoder (Gao et al. 2024) with one latent per concept, a few lines of torch; a
  component's map is its code at each position. (The ``overcomplete`` package of CRAFT's authors has both NMF and
  SAEs, but it requires opencv-python, scikit-image, timm and einops, none of which the project otherwise needs.)

Each method is fitted on a random sample of ink positions of the train split (``--positions`` of the first
``--train-sketches``), on the *base* model's atlas layer: the loop's concepts start from it (round 1 fine-tunes the
base model), so the baselines see the features the artist first labelled. NMF and SAE maps are scaled to [0, 1] by
their 99th percentile on the train sample; every map is 0 on the positions whose cell holds no ink (the input's own
ink, as extraction defines it): the methods never saw such positions, and k-means would hand each to some cluster.

Each component is then matched in hindsight on the val split (train, where the round was measured on val): its
map is thresholded at each of :data:`LEVELS`, read as the evaluate stage reads a concept map
(``evaluate.iou_resolution``: pixel, each map upsampled to the sketch and compared with the true part mask over the
ink pixels, :func:`pipeline.evaluation.metrics.ink_pixel_predictions`; or per stride cell), and the (level, part) of
highest IoU is its threshold and its part. On the split the loop's round was measured on (``evaluate.split`` of its
``metrics.json``, test by default) with those thresholds:

- ``mean IoU``: mean over the K components of the IoU with their val-matched part (0 for one that matched none);
- ``mean IoU (as evaluate)``: the evaluate stage's ``mean_concept_iou`` (each component matched to its best part on
  that split itself, as the loop's concepts are), never below the former;
- ``parts``: ``parts_discovered`` (a true part found by some component at IoU >= ``evaluate.iou_discovered``);
- ``mean part IoU``: mean over the true parts of the best component's IoU.

The table puts them beside the supervised ceiling (``ceiling.json`` of the kept run, which bench_loop.py writes, or
``--ceiling``: a bench_ceiling.py or bench_loop.py ``--json``) and the loop's round (its ``metrics.json``), and says
whether the loop beats the best baseline by >= 0.15 mean IoU (as evaluate, the measure more generous to the
baselines) and finds more parts with as many concepts.

    python bench/bench_baselines.py --from DIR [--round 3] [--concepts K] [--methods kmeans,nmf,sae]
        [--loop LABEL=PATH ...] [--ceiling JSON] [--json OUT] [hydra overrides]
    python bench/bench_baselines.py --from /tmp/loop-default --loop "noise 0.2=/tmp/loop-noisy"

``--from`` is a folder bench_loop.py kept (``--keep``) or any project; its own ``conf/`` and the overrides recorded
in its ``params.yaml`` are composed, then the command line's overrides; its relative paths are read from that
folder. Without ``--from``: this project, with the command line's overrides (as the other benchmarks). ``--loop``
adds the round of another kept run on the same data (a folder, its ``evaluation/round_<N>/metrics.json``, or a
bench_loop.py ``--json``), e.g. one labelled by a fallible artist.

Measured (bench_loop.py runs with the oracle artist, pixel IoU on test, mean IoU as evaluate): on the second
dataset (seed 1, six classes) round 3 has 20 concepts, 18/21 parts, 0.549; with 20 components each, k-means 3/21,
0.235, NMF 2/21, 0.232, the top-2 SAE 2/21, 0.226 (ceiling 20/21, 0.714). On the default data round 3 has 26
concepts, 20/32 parts, 0.512; k-means 7/32, 0.257, NMF 2/32, 0.191, SAE 7/32, 0.238 (ceiling 29/32, 0.656). The
automatic components do not line up with the parts: on the second dataset each overlaps its best part at 0.09 to
0.57, and they match only 11 (NMF: five on "body") to 14 distinct parts of 21. More positions (60000), top-1 or
top-4 SAEs and k-means on unit vectors move their means by at most 0.02 (round 0 of the default data, 20 each).

On the default data (20 components each, 20000 positions) a run takes about a minute on two busy cores: fitting
3 s (k-means), 5 s (NMF), 12 s (SAE), matching on val 25 s, measuring on test 8 s. The smallest run (seconds, on a
project with a round 1): ``--round 1 --train-sketches 50 --positions 2000 --sae-steps 50`` with overrides pointing
at the project's paths.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_ceiling import say, summarise  # noqa: E402 - after the path is set

METHODS = ("kmeans", "nmf", "sae")
#: The levels each component's [0, 1] map is thresholded at on the matching split; the best is kept.
LEVELS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
#: The aim of the loop over the best baseline: this much more mean IoU, and more parts found.
IOU_MARGIN_AIM = 0.15
#: The split a baseline's components are matched on (the train split when the round was measured on it).
MATCH_SPLIT = "val"

#: A fitted method: the layer's activations at M positions (M, C) -> the K components' maps there (M, K) in [0, 1].
Encoder = Callable[["torch.Tensor"], "torch.Tensor"]  # noqa: F821 - torch is imported where it runs


@dataclasses.dataclass
class Project:
    """The run whose round the baselines are compared with.

    Attributes:
        folder: Its folder (relative paths of its config are read from here).
        cfg: Its composed config.
        label: How its round is named in the table.
    """

    folder: Path
    cfg: Any
    label: str

    def path(self, value: str) -> Path:
        """A path of the config, relative ones read from the project's folder."""
        path = Path(str(value))
        return path if path.is_absolute() else self.folder / path


@dataclasses.dataclass
class Matched:
    """Each component's threshold and part, chosen in hindsight on the matching split.

    Attributes:
        levels: (K,) the level of its [0, 1] map that gave its best IoU.
        parts: (K,) its part's index (part id - 1), -1 where it overlaps no part.
        iou: (K,) that IoU on the matching split.
    """

    levels: np.ndarray
    parts: np.ndarray
    iou: np.ndarray


def load_project(folder: Path | None, overrides: Sequence[str]) -> Project:
    """The config of a kept loop run, or of this project.

    A kept run's folder holds a copy of conf/ as it was when the run began, which this code's schema may have
    outgrown; its params.yaml records the overrides it was run with and the settings it used. So: this project's
    conf/ with the recorded overrides and then ``overrides``, and the ``evaluate`` settings the run recorded (those
    the command line does not override), so that the baselines are read as the run's rounds were.

    Args:
        folder: The kept run's folder, or None for this project (``overrides`` only).
        overrides: Hydra overrides from the command line.

    Returns:
        The project.

    Raises:
        InputError: The folder is not a project (no conf/config.yaml) or its params.yaml is unreadable.
    """
    import yaml
    from omegaconf import OmegaConf, open_dict

    from pipeline.config import OVERRIDES_KEY, PARAMS_FILE, compose
    from core.errors import InputError

    if folder is None:
        return Project(ROOT, compose(list(overrides), ROOT / "conf", targets=False), "loop")
    folder = folder.resolve()
    if not (folder / "conf" / "config.yaml").is_file():
        raise InputError(folder, "not a project folder (no conf/config.yaml)",
                         hint="pass a folder bench_loop.py kept (--keep DIR), or a project")
    params = folder / PARAMS_FILE
    try:
        document = yaml.safe_load(params.read_text()) if params.is_file() else {}
    except (OSError, yaml.YAMLError) as err:
        raise InputError(params, f"unreadable ({err})", hint="run `articulate configure` in that folder") from None
    if not isinstance(document, dict):
        raise InputError(params, "not a recorded configuration", hint="run `articulate configure` in that folder")
    cfg = compose([*map(str, document.get(OVERRIDES_KEY) or []), *overrides], ROOT / "conf", targets=False)
    given = {o.split("=", 1)[0].lstrip("+~") for o in overrides}
    used = document.get("evaluate") if isinstance(document.get("evaluate"), dict) else {}
    with open_dict(cfg):
        for key, value in used.items():
            if key in cfg.evaluate and f"evaluate.{key}" not in given and not isinstance(value, (dict, list)):
                OmegaConf.update(cfg, f"evaluate.{key}", value, merge=False)
    return Project(folder, cfg, f"loop (artist noise {float(cfg.labeling.artist.noise):g})")


def round_metrics(path: Path, round_: int) -> dict[str, Any]:
    """The evaluate stage's metrics of one round: from a kept run's folder (``evaluation/round_<N>/metrics.json``),
    that file, or a bench_loop.py ``--json`` (its ``rounds``).

    Args:
        path: The folder or file.
        round_: The round.

    Returns:
        The round's metrics.json contents.

    Raises:
        InputError: No such round there, or not a file of either kind.
    """
    file = metrics_file(path / "evaluation", round_) if path.is_dir() else path
    return _round_of(file, _read_json(file), round_)


def metrics_file(evaluation: Path, round_: int) -> Path:
    """``round_<N>/metrics.json`` under an evaluation folder (``paths.evaluation``).

    Raises:
        InputError: The round was not evaluated there (the message lists the rounds that were).
    """
    from core.errors import InputError

    file = evaluation / f"round_{round_}" / "metrics.json"
    if not file.is_file():
        built = sorted(p.name for p in evaluation.glob("round_*") if (p / "metrics.json").is_file())
        raise InputError(file, f"no evaluation of round {round_}",
                         hint=f"rounds evaluated there: {', '.join(built) or 'none'}; pass --round, or wait for the "
                              "loop to evaluate it")
    return file


def _read_json(file: Path) -> Any:
    from core.errors import InputError

    try:
        return json.loads(file.read_text())
    except (OSError, ValueError) as err:
        raise InputError(file, f"unreadable JSON ({err})") from None


def _round_of(file: Path, document: Any, round_: int) -> dict[str, Any]:
    """The round's metrics in a metrics.json or a bench_loop.py report."""
    from core.errors import InputError

    if isinstance(document, dict) and isinstance(document.get("rounds"), list):  # bench_loop.py --json
        if round_ >= len(document["rounds"]):
            raise InputError(file, f"holds rounds 0 to {len(document['rounds']) - 1}, not round {round_}",
                             hint="pass --round")
        document = document["rounds"][round_]
    if not isinstance(document, dict) or "n_concepts" not in document:
        raise InputError(file, "not the evaluate stage's metrics.json nor a bench_loop.py --json")
    if document.get("round", round_) != round_:
        raise InputError(file, f"is round {document['round']}'s evaluation, not round {round_}'s")
    return document


def ceiling_metrics(file: Path, resolution: str) -> dict[str, Any]:
    """The supervised ceiling (its fine-tuned variant) from a bench_ceiling.py or bench_loop.py ``--json``.

    Args:
        file: The JSON file.
        resolution: ``pixel`` or ``cell``, as the round was measured.

    Returns:
        ``parts_discovered``, ``parts_total``, ``mean_concept_iou``, ``mean_part_iou`` (and the rest summarise
        gives), ``concepts``: its heads (one a part seen in training; the parts of the test split where unknown).

    Raises:
        InputError: Neither kind of file, or without the fine-tuned variant at that resolution.
    """
    from core.errors import InputError

    document = _read_json(file)
    if isinstance(document, dict) and isinstance(document.get("results"), dict):  # bench_ceiling.py --json
        found = document["results"].get("finetuned", {}).get(resolution)
    elif isinstance(document, dict) and "ceiling" in document:  # bench_loop.py --json: the pixel figures
        found = document["ceiling"] if resolution == "pixel" else None
    else:
        found = None
    if not isinstance(found, dict) or "parts_discovered" not in found:
        raise InputError(file, f"no fine-tuned ceiling at {resolution} resolution",
                         hint="pass the --json of bench_ceiling.py (--variants finetuned) or of bench_loop.py")
    heads = document.get("parts") if isinstance(document.get("parts"), list) else None  # one head a part
    return {**found, "concepts": len(heads) if heads else found.get("parts_total")}


def position_batches(extractor: Any, layer: str, sketches: Sequence[Any], raster: Any, part_index: dict[str, int],
                     batch_size: int) -> Iterator[tuple[Any, np.ndarray, np.ndarray, np.ndarray]]:
    """The layer's activations at every position of each batch of sketches, with the ink and true parts.

    Args:
        extractor: An :class:`~pipeline.activations.extractor.Extractor` of the base model's layer (float32).
        layer: The layer.
        sketches: Sketches that name their parts.
        raster: How they are rendered for the model.
        part_index: Part name -> id (1..P).
        batch_size: Sketches per forward pass.

    Yields:
        (activations (B*H*W, C) float32 tensor, ink cells (B, H, W) bool, true part per position (B, H, W),
        pixel part masks (B, S, S)).
    """
    import torch

    from pipeline.activations.extractor import rendered_batches

    for batch, (images, masks) in rendered_batches(sketches, batch_size, raster, part_index):
        out = extractor.run(images, np.zeros(len(batch), dtype=np.int64), masks, attribution=False)[layer]
        activations = torch.from_numpy(out.activations)
        yield activations.reshape(-1, activations.shape[-1]), out.ink, out.part, masks


def train_sample(batches: Iterator[tuple[Any, np.ndarray, np.ndarray, np.ndarray]], count: int,
                 seed: int) -> np.ndarray:
    """A random sample of the layer's activation vectors at the ink positions of some sketches.

    Args:
        batches: :func:`position_batches` of the sketches.
        count: Positions in the sample (all ink positions where there are fewer).
        seed: The sample's seed.

    Returns:
        (count, C) float32.
    """
    every = np.concatenate([activations[ink.reshape(-1)].numpy() for activations, ink, _part, _masks in batches])
    rng = np.random.default_rng(seed)
    return every[np.sort(rng.choice(len(every), size=min(count, len(every)), replace=False))]


def _unit_scale(codes: np.ndarray) -> np.ndarray:
    """(K,) each component's 99th percentile on the train sample (its maps are divided by it and clipped to 1)."""
    return np.maximum(np.percentile(codes, 99, axis=0), 1e-6).astype(np.float32)


def fit_kmeans(sample: np.ndarray, k: int, seed: int) -> Encoder:
    """ACE-like: k-means of the activation vectors; a component is 1 where its centre is the nearest.

    Args:
        sample: (M, C) activation vectors at train ink positions.
        k: Number of clusters.
        seed: The k-means seed.

    Returns:
        The encoder.
    """
    import torch
    from sklearn.cluster import KMeans

    centres = torch.from_numpy(KMeans(n_clusters=k, n_init=3, random_state=seed).fit(sample).cluster_centers_)
    centres = centres.to(torch.float32)

    def encode(x: torch.Tensor) -> torch.Tensor:
        nearest = torch.cdist(x, centres).argmin(1)
        return torch.nn.functional.one_hot(nearest, k).to(torch.float32)

    return encode


def fit_nmf(sample: np.ndarray, k: int, seed: int) -> Encoder:
    """CRAFT-like: NMF of the non-negative activations (X ~ U W, U >= 0); a component's map is its coefficient U.

    Args:
        sample: (M, C) activation vectors at train ink positions (negative values, from a layer before its ReLU,
            are clipped to 0).
        k: Number of components.
        seed: The initialisation's seed.

    Returns:
        The encoder: the coefficients of new positions against the fitted W (scikit-learn's ``transform``), divided
        by their train 99th percentile and clipped to [0, 1].
    """
    import torch
    from sklearn.decomposition import NMF

    nmf = NMF(n_components=k, init="nndsvda", max_iter=400, random_state=seed)
    scale = _unit_scale(nmf.fit_transform(np.clip(sample, 0, None)))

    def encode(x: torch.Tensor) -> torch.Tensor:
        codes = nmf.transform(np.clip(x.numpy(), 0, None)).astype(np.float32)
        return torch.from_numpy(np.minimum(codes / scale, 1.0))

    return encode


def fit_topk_sae(sample: np.ndarray, k: int, top_k: int, steps: int, seed: int, batch_size: int = 1024) -> Encoder:
    """A top-k sparse autoencoder with ``k`` latents: z = TopK(ReLU(W_enc (x - b) + c)), x ~ W_dec z + b.

    Trained with Adam on the mean squared error; the decoder's atoms start as sample positions spread apart by
    k-means++ seeding (centred, unit norm: random positions can put two atoms on one part and leave a latent dead)
    and are kept at unit norm; the encoder starts as their transpose.

    Args:
        sample: (M, C) activation vectors at train ink positions.
        k: Number of latents (concepts).
        top_k: Latents kept per position.
        steps: Optimiser steps.
        seed: The initialisation's and batches' seed.
        batch_size: Positions per step.

    Returns:
        The encoder: the codes z of new positions, divided by their train 99th percentile and clipped to [0, 1].
    """
    import torch

    from sklearn.cluster import kmeans_plusplus

    generator = torch.Generator().manual_seed(seed)
    x = torch.from_numpy(sample).to(torch.float32)
    bias = x.mean(0).clone().requires_grad_(True)
    atoms = torch.from_numpy(kmeans_plusplus(sample, k, random_state=seed)[0]).to(torch.float32) - x.mean(0)
    decoder = (atoms / atoms.norm(dim=1, keepdim=True).clamp_min(1e-6)).requires_grad_(True)
    encoder = decoder.detach().clone().requires_grad_(True)
    offset = torch.zeros(k, requires_grad=True)
    top_k = min(top_k, k)

    def codes(batch: torch.Tensor) -> torch.Tensor:
        pre = torch.relu((batch - bias) @ encoder.T + offset)
        kept = pre.topk(top_k, dim=1)
        return torch.zeros_like(pre).scatter(1, kept.indices, kept.values)

    optimiser = torch.optim.Adam([bias, decoder, encoder, offset], lr=1e-3)
    for _ in range(steps):
        batch = x[torch.randint(len(x), (min(batch_size, len(x)),), generator=generator)]
        loss = ((codes(batch) @ decoder + bias - batch) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        with torch.no_grad():
            decoder /= decoder.norm(dim=1, keepdim=True).clamp_min(1e-6)
    with torch.no_grad():
        scale = torch.from_numpy(_unit_scale(codes(x).numpy()))

    def encode(batch: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return (codes(batch) / scale).clamp(max=1.0)

    return encode


def _predicted(maps: np.ndarray, masks: np.ndarray, part: np.ndarray, geometry: Any, threshold: float,
               resolution: str) -> tuple[np.ndarray, np.ndarray]:
    """Where each map is predicted and the truth it is counted against, as the evaluate stage reads concept maps.

    Args:
        maps: (N, K, H, W) maps on the layer's grid.
        masks: (N, S, S) pixel part masks.
        part: (N, H, W) true part per position.
        geometry: The layer's geometry.
        threshold: The level a map must reach.
        resolution: ``pixel`` (over the ink pixels, maps upsampled) or ``cell`` (per position).

    Returns:
        (predictions, truth) for :meth:`~pipeline.evaluation.metrics.OverlapCounts.update`.
    """
    from pipeline.evaluation.metrics import ink_pixel_predictions

    if resolution == "pixel":
        return ink_pixel_predictions(maps, masks, geometry, threshold), masks
    return maps >= threshold, part


def _maps(encoder: Encoder, activations: Any, ink: np.ndarray) -> np.ndarray:
    """(N, K, H, W) the components' maps of a batch, from its activations (N*H*W, C), 0 where a cell holds no ink.

    The methods are fitted on ink positions: what they say of empty paper is an extrapolation, and k-means would
    give every empty cell to some cluster (the concept heads of the loop learn to stay off it, from their
    background weight).
    """
    scores = encoder(activations).numpy()
    n, h, w = ink.shape
    return scores.reshape(n, h, w, -1).transpose(0, 3, 1, 2) * ink[:, None]


def match_components(encoders: dict[str, Encoder], batches: Iterator[tuple[Any, np.ndarray, np.ndarray, np.ndarray]],
                     parts: int, geometry: Any, resolution: str) -> dict[str, Matched]:
    """Each component's best (level, part) on the matching split: the hindsight the baselines are given.

    Args:
        encoders: Method -> its fitted encoder.
        batches: :func:`position_batches` of the matching split.
        parts: Number of true parts P.
        geometry: The layer's geometry.
        resolution: ``pixel`` or ``cell``.

    Returns:
        Method -> its components' thresholds and parts.
    """
    from pipeline.evaluation.metrics import OverlapCounts, iou_matrix

    counts: dict[str, list[Any]] = {}
    for activations, ink, part, masks in batches:
        for name, encoder in encoders.items():
            maps = _maps(encoder, activations, ink)
            per_level = counts.setdefault(name, [OverlapCounts(maps.shape[1], parts) for _ in LEVELS])
            for level, level_counts in zip(LEVELS, per_level):
                level_counts.update(*_predicted(maps, masks, part, geometry, level, resolution))
    out = {}
    for name, per_level in counts.items():
        iou = np.stack([iou_matrix(c) for c in per_level])  # (levels, K, P)
        flat = iou.transpose(1, 0, 2).reshape(iou.shape[1], -1)  # (K, levels * P)
        best = flat.argmax(1)
        value = flat[np.arange(len(flat)), best]
        level, part = np.divmod(best, iou.shape[2])
        out[name] = Matched(np.where(value > 0, np.asarray(LEVELS)[level], 0.5), np.where(value > 0, part, -1), value)
    return out


def measure(encoders: dict[str, Encoder], matched: dict[str, Matched],
            batches: Iterator[tuple[Any, np.ndarray, np.ndarray, np.ndarray]], part_names: Sequence[str],
            geometry: Any, settings: Any) -> dict[str, dict[str, Any]]:
    """The components on the measured split, each at its matched threshold, by the evaluate stage's measures.

    Args:
        encoders: Method -> its fitted encoder.
        matched: Method -> its components' thresholds and parts (:func:`match_components`).
        batches: :func:`position_batches` of the split the loop's round was measured on.
        part_names: The dataset's parts (id = index + 1).
        geometry: The layer's geometry.
        settings: The ``evaluate`` config (threshold, iou_discovered, iou_resolution).

    Returns:
        Method -> ``mean_iou`` (val-matched), ``iou`` per component, ``matched_part`` per component, and
        :func:`bench.bench_ceiling.summarise`'s ``parts_discovered``, ``parts_total``, ``mean_concept_iou`` (as
        evaluate), ``mean_part_iou``, ``per_part``.
    """
    from pipeline.evaluation.metrics import OverlapCounts, iou_matrix

    threshold, resolution = float(settings.threshold), str(settings.iou_resolution)
    counts = {name: OverlapCounts(len(m.levels), len(part_names)) for name, m in matched.items()}
    presence: dict[str, list[np.ndarray]] = {name: [] for name in matched}
    contains = []
    for activations, ink, part, masks in batches:
        hit = np.zeros((len(part), len(part_names) + 1), dtype=bool)
        np.put_along_axis(hit, part.reshape(len(part), -1).astype(np.int64), True, axis=1)
        contains.append(hit)
        for name, encoder in encoders.items():
            # each map scaled so that its matched level falls on the evaluate stage's threshold (the upsampling is
            # linear: thresholding the scaled map there is thresholding the map at its level)
            maps = _maps(encoder, activations, ink) * (threshold / matched[name].levels)[None, :, None, None]
            presence[name].append(maps.reshape(*maps.shape[:2], -1).max(2))
            counts[name].update(*_predicted(maps, masks, part, geometry, threshold, resolution))
    out = {}
    for name, m in matched.items():
        iou = iou_matrix(counts[name])
        own = np.where(m.parts >= 0, iou[np.arange(len(m.parts)), np.maximum(m.parts, 0)], 0.0)
        concepts = [{"id": f"{name}{k}", "name": f"{name}{k}"} for k in range(len(m.parts))]
        out[name] = {"mean_iou": float(own.mean()), "iou": [float(v) for v in own],
                     "matched_part": [part_names[p] if p >= 0 else None for p in m.parts],
                     "level": [float(v) for v in m.levels], "match_iou": [float(v) for v in m.iou],
                     **summarise(concepts, part_names, counts[name], np.concatenate(contains),
                                 float(settings.iou_discovered), np.concatenate(presence[name]), threshold)}
    return out


def loop_row(metrics: dict[str, Any]) -> dict[str, Any]:
    """A loop round's figures in the table's terms (its metrics.json)."""
    found = metrics.get("parts") or []
    return {"concepts": int(metrics["n_concepts"]), "parts_discovered": metrics.get("parts_discovered"),
            "parts_total": metrics.get("parts_total"), "mean_concept_iou": metrics.get("mean_concept_iou"),
            "mean_part_iou": float(np.mean([p["best_iou"] for p in found])) if found else None}


def table(rows: list[tuple[str, dict[str, Any]]]) -> str:
    """One line per method: concepts, parts found, mean IoU (val-matched; as evaluate), mean part IoU, fit time."""
    def cell(value: Any, form: str = ".3f") -> str:
        return "-" if value is None else format(value, form)

    width = max(16, *(len(label) for label, _ in rows))
    head = (f"{'':<{width}} {'concepts':>8} {'parts >= 0.3':>12} {'mean IoU':>8} {'as evaluate':>11} "
            f"{'part IoU':>8} {'fit s':>6}")
    lines = [head, "-" * len(head)]
    for label, r in rows:
        parts = f"{r['parts_discovered']}/{r['parts_total']}" if r.get("parts_discovered") is not None else "-"
        lines.append(f"{label:<{width}} {cell(r.get('concepts'), 'd'):>8} {parts:>12} {cell(r.get('mean_iou')):>8} "
                     f"{cell(r.get('mean_concept_iou')):>11} {cell(r.get('mean_part_iou')):>8} "
                     f"{cell(r.get('seconds'), '.0f'):>6}")
    return "\n".join(lines)


def aims(loop: dict[str, Any], baselines: dict[str, dict[str, Any]]) -> dict[str, bool]:
    """The loop against the best baseline (by mean IoU as evaluate, the measure more generous to the baselines)."""
    if not baselines or loop.get("mean_concept_iou") is None:
        return {}
    name, best = max(baselines.items(), key=lambda item: item[1]["mean_concept_iou"])
    margin = loop["mean_concept_iou"] - best["mean_concept_iou"]
    return {
        f"loop's mean IoU >= the best baseline's ({name}, {best['mean_concept_iou']:.3f}) + {IOU_MARGIN_AIM} "
        f"({loop['mean_concept_iou']:.3f}, {margin:+.3f})": margin >= IOU_MARGIN_AIM,
        f"loop finds more parts than any baseline with as many concepts ({loop['parts_discovered']} against at most "
        f"{max(b['parts_discovered'] for b in baselines.values())})":
            all(loop["parts_discovered"] > b["parts_discovered"] for b in baselines.values()),
    }


def _methods(text: str) -> list[str]:
    chosen = [m for m in text.split(",") if m]
    if not chosen or set(chosen) - set(METHODS):
        raise argparse.ArgumentTypeError(f"expected some of {', '.join(METHODS)}, got {text!r}")
    return chosen


def _at_least(least: int) -> Callable[[str], int]:
    def number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = least - 1
        if value < least:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {least}, got {text!r}")
        return value

    return number


def _labelled(text: str) -> tuple[str, Path]:
    label, sep, path = text.partition("=")
    if not sep or not label or not path:
        raise argparse.ArgumentTypeError(f"expected LABEL=PATH, got {text!r}")
    return label, Path(path)


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="folder", type=Path, default=None,
                        help="a folder bench_loop.py kept (--keep), or a project (default: this project)")
    parser.add_argument("--round", type=_at_least(0), default=3, help="the loop's round to compare with (default 3)")
    parser.add_argument("--concepts", type=_at_least(0), default=0,
                        help="components of each baseline (default 0: as many as the round's concepts)")
    parser.add_argument("--methods", type=_methods, default=list(METHODS),
                        help=f"comma-separated, of: {', '.join(METHODS)}")
    parser.add_argument("--train-sketches", type=_at_least(1), default=800,
                        help="train sketches the positions are sampled from (default 800)")
    parser.add_argument("--positions", type=_at_least(1), default=20000,
                        help="train ink positions to fit on (default 20000)")
    parser.add_argument("--sae-top-k", type=_at_least(0), default=0,
                        help="latents the SAE keeps per position (default 0: max(1, K // 10), overcomplete's default)")
    parser.add_argument("--sae-steps", type=_at_least(1), default=2000, help="SAE optimiser steps (default 2000)")
    parser.add_argument("--ceiling", type=Path, default=None,
                        help="a bench_ceiling.py or bench_loop.py --json (default: the kept run's ceiling.json)")
    parser.add_argument("--loop", type=_labelled, action="append", default=[], metavar="LABEL=PATH",
                        help="another run's round beside it: a kept folder, its metrics.json or a bench_loop.py --json")
    parser.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides (paths, evaluate, seed)")
    return parser.parse_args(argv)


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Fit, match and measure the baselines, print the table and the aims.

    Args:
        args: The command line (:func:`parse`).

    Returns:
        What ``--json`` writes.

    Raises:
        ArticulateError: A missing or unreadable input (the round's evaluation, the data, the base model, the
            ceiling or another loop's file), all read before anything is fitted.
    """
    import torch

    from pipeline.activations.extractor import Extractor
    from pipeline.data.store import read_manifest, read_split
    from core.errors import InputError
    from pipeline.activations.geometry import LayerGeometry
    from pipeline.models.build import load_trained
    from pipeline.rounds import BASE, MODEL_FILE

    project = load_project(args.folder, args.overrides)
    cfg, seed = project.cfg, int(project.cfg.seed)
    torch.set_num_threads(int(cfg.threads) or (os.cpu_count() or 1))
    evaluation = metrics_file(project.path(cfg.paths.evaluation), args.round)
    metrics = _round_of(evaluation, _read_json(evaluation), args.round)
    k = args.concepts or int(metrics["n_concepts"])
    if k < 1:
        raise InputError(evaluation, f"round {args.round} has no concepts",
                         hint="pass a later --round, or --concepts K")
    settings = cfg.evaluate.copy()  # the threshold and IoU to discover a part: as the round was measured
    for key in ("threshold", "iou_discovered"):
        if metrics.get(key) is not None:
            settings[key] = float(metrics[key])
    resolution = str(settings.iou_resolution)
    ceiling_file = args.ceiling or project.folder / "ceiling.json"
    ceiling = ceiling_metrics(ceiling_file, resolution) if args.ceiling or ceiling_file.is_file() else None
    others = {label: loop_row(round_metrics(path, args.round)) for label, path in args.loop}
    dataset = project.path(cfg.paths.dataset)
    manifest = read_manifest(dataset)
    if not manifest.parts:
        raise InputError(dataset, "the data has no part annotations: the baselines are measured against true parts")
    split = str(metrics.get("split") or settings.split)
    match_split = MATCH_SPLIT if split != MATCH_SPLIT else "train"
    model_file = project.path(cfg.paths.models) / BASE / MODEL_FILE
    base = load_trained(model_file)
    base = dataclasses.replace(base, layer=str(metrics.get("layer") or base.layer))
    geometry = LayerGeometry.of(base)
    say(f"{project.label}, round {args.round}: {k} concepts, measured on {split} ({resolution} IoU); baselines on "
        f"the base model's {base.layer} ({geometry.height}x{geometry.width}, {geometry.channels} channels, "
        f"{model_file})")
    parts = list(manifest.parts)
    part_index = {p: i + 1 for i, p in enumerate(parts)}
    extractor = Extractor(base.net, [base.layer], base.input_spec, dtype="float32")

    def batches(name: str, limit: int | None = None) -> Iterator[Any]:
        sketches = [s for s in read_split(dataset, name) if s.parts is not None][:limit]
        if not sketches:
            raise InputError(dataset, f"no sketches with parts in the '{name}' split")
        return position_batches(extractor, base.layer, sketches, base.raster, part_index, int(settings.batch_size))

    start = time.perf_counter()
    sample = train_sample(batches("train", args.train_sketches), args.positions, seed)
    say(f"train sample: {len(sample)} ink positions of {args.train_sketches} train sketches "
        f"({time.perf_counter() - start:.0f} s)")
    top_k = args.sae_top_k or max(1, k // 10)
    fits: dict[str, Callable[[], Encoder]] = {
        "kmeans": lambda: fit_kmeans(sample, k, seed),
        "nmf": lambda: fit_nmf(sample, k, seed),
        "sae": lambda: fit_topk_sae(sample, k, top_k, args.sae_steps, seed),
    }
    encoders: dict[str, Encoder] = {}
    seconds: dict[str, float] = {}
    for name in args.methods:
        start = time.perf_counter()
        encoders[name] = fits[name]()
        seconds[name] = time.perf_counter() - start
        say(f"{name}: {k} components fitted in {seconds[name]:.1f} s")
    start = time.perf_counter()
    matched = match_components(encoders, batches(match_split), len(parts), geometry, resolution)
    say(f"matched on {match_split} in {time.perf_counter() - start:.0f} s")
    start = time.perf_counter()
    results = {n: {**r, "seconds": seconds[n]}
               for n, r in measure(encoders, matched, batches(split), parts, geometry, settings).items()}
    say(f"measured on {split} in {time.perf_counter() - start:.0f} s")

    loop = loop_row(metrics)
    names = {"kmeans": "k-means (ACE-like)", "nmf": "NMF (CRAFT-like)", "sae": f"top-{top_k} SAE"}
    rows = [("ceiling", ceiling)] if ceiling is not None else []
    rows += [(project.label, loop), *((f"loop ({label})", row) for label, row in others.items()),
             *((names[n], {**results[n], "concepts": k}) for n in args.methods)]
    print()
    print(f"Round {args.round} of the loop against automatic concept discovery on the base model's {base.layer}, "
          f"{k} concepts each; {resolution} IoU on the {split} split, components matched to parts (and "
          f"thresholds) on {match_split}")
    print(table(rows))
    print(f"(mean IoU: each component's IoU with its part matched on {match_split}; as evaluate: matched on {split}, "
          "the loop's measure; part IoU: mean over the parts of the best IoU" +
          (f"; ceiling from {ceiling_file}" if ceiling is not None else "") + ")")
    met = aims(loop, results)
    for aim, ok in met.items():
        print(f"aim: {aim}: {'met' if ok else 'NOT met'}")
    return {"from": str(project.folder), "round": args.round, "concepts": k, "split": split,
            "match_split": match_split, "resolution": resolution, "layer": base.layer, "model": str(model_file),
            "train_sketches": args.train_sketches, "positions": len(sample), "sae_top_k": top_k,
            "sae_steps": args.sae_steps, "levels": list(LEVELS), "ceiling": ceiling, "loop": loop, "loops": others,
            "baselines": results, "aims": met}


def main(argv: list[str]) -> int:
    args = parse(argv)
    from core.errors import ArticulateError
    from core.io import atomic_write_text

    try:
        document = benchmark(args)
    except ArticulateError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.json, json.dumps(document, indent=2) + "\n")
        say(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""Knowing when it does not know: calibrated class probabilities and an out-of-distribution ("unsure") score.

Fitted once per round on complete drawings, cached beside the canon:

- **temperature** ``T``: one scalar that minimises the negative log-likelihood of the val split's labels under
  ``softmax(logits / T)`` (temperature scaling, Guo et al. 2017; L-BFGS on ``log T``, so ``T > 0``). The
  probabilities the coach reports are these: a drawing the model reads at "90%" is right about 90% of the time
  on the val split, not 100% as a briefly trained net's raw softmax claims.
- **familiarity**, how much a frame looks like the drawings the model was trained on (higher: more familiar),
  one of :data:`FAMILIARITY`:

  - ``energy``: ``T * logsumexp(logits / T)``, the negative of the energy score (Liu et al. 2020);
  - ``msp``: the largest calibrated class probability;
  - ``mahalanobis``: minus the smallest Mahalanobis distance of the frame's pooled atlas-layer activation to a
    class mean, under one covariance shared by the classes (Lee et al. 2018), means and covariance fitted on
    the ``fit_split`` (the train split: the threshold is then set on drawings the fit did not see). With
    ``transform: sqrt`` the pooled activation is first taken to its signed square root, which makes the
    skewed, non-negative channels of a ReLU layer closer to the Gaussian the distance assumes;
  - ``combined``: energy and mahalanobis, each standardised by its mean and spread over the val drawings,
    summed: a frame is unfamiliar when its class evidence is weak, its activation is far from every class, or
    some of both.

  The coach is *unsure* of a frame whose familiarity is below the threshold that ``val_pass`` of the complete
  val drawings reach (0.99: 1% of the model's own complete generated drawings are called unsure, by construction).

Which familiarity separates best was measured on val drawings against random scribbles, real drawings of other
classes and real drawings of the model's own classes (``bench/bench_feedback.py --unsure``; see the coach page of
the docs): ``combined`` at ``val_pass`` 0.99 kept the most real drawings of its own classes sure while still
doubting most scribbles and other classes, on two projects.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from pipeline.coach.canon import cache_key
from pipeline.coach.scorer import FrameScorer
from core.sketch import Sketch
from core.errors import ConfigError, InputError
from core.io import atomic_write_bytes
from pipeline.schema import Conf

__all__ = ["FAMILIARITY", "Calibration", "UnsureSettings", "cached_calibration", "fit_calibration", "auroc"]

log = logging.getLogger(__name__)
FAMILIARITY = ("energy", "msp", "mahalanobis", "combined")
#: What is done to the pooled activation before the Mahalanobis distance.
TRANSFORMS = ("none", "sqrt")
FORMAT_VERSION = 2
#: The shared covariance is shrunk toward its mean variance by this share (a few hundred drawings, many channels).
SHRINKAGE = 0.1


@dataclass(frozen=True)
class UnsureSettings:
    """When the coach says it is not sure.

    Attributes:
        familiarity: The score it reads (:data:`FAMILIARITY`).
        val_pass: Share of complete val drawings of the model's classes whose familiarity passes the threshold.
        fit_split: The split whose drawings fit the Mahalanobis class means and covariance.
        max_per_class: Drawings per class read from each split.
        transform: What is done to the pooled activation before the Mahalanobis distance (:data:`TRANSFORMS`).
    """

    CONF: ClassVar[Conf] = Conf("coach.unsure")

    familiarity: str
    val_pass: float
    fit_split: str
    max_per_class: int
    transform: str

    def __post_init__(self) -> None:
        if self.familiarity not in FAMILIARITY:
            raise ConfigError(f"coach.unsure.familiarity: expected one of {', '.join(FAMILIARITY)}, "
                              f"got {self.familiarity!r}")
        if self.transform not in TRANSFORMS:
            raise ConfigError(f"coach.unsure.transform: expected one of {', '.join(TRANSFORMS)}, "
                              f"got {self.transform!r}")
        if isinstance(self.val_pass, bool) or not 0.0 < float(self.val_pass) < 1.0:
            raise ConfigError(f"coach.unsure.val_pass: expected a fraction in (0, 1), got {self.val_pass!r}")
        if isinstance(self.max_per_class, bool) or int(self.max_per_class) < 1:
            raise ConfigError(f"coach.unsure.max_per_class: expected an integer >= 1, got {self.max_per_class!r}")


@dataclass
class Calibration:
    """A round's temperature, class statistics and thresholds.

    Attributes:
        temperature: ``T`` of the calibrated probabilities ``softmax(logits / T)``.
        nll: The val split's mean negative log-likelihood at ``T = 1`` and at ``T``.
        means: (classes, C) class means of the pooled atlas-layer activation.
        precision: (C, C) inverse of the shared (shrunk) covariance.
        thresholds: Familiarity -> the value ``val_pass`` of the complete val drawings reach.
        familiarity: The familiarity the coach reads.
        drawings: Val drawings the temperature and thresholds were set on.
        transform: What is done to the pooled activation before the distance (:data:`TRANSFORMS`).
        scales: (2, 2) the mean and standard deviation of energy (row 0) and mahalanobis (row 1) over the val
            drawings, which ``combined`` standardises them by.
    """

    temperature: float
    nll: tuple[float, float]
    means: np.ndarray
    precision: np.ndarray
    thresholds: dict[str, float]
    familiarity: str = "combined"
    drawings: int = 0
    transform: str = "none"
    scales: np.ndarray = field(default_factory=lambda: np.array([[0.0, 1.0], [0.0, 1.0]]))

    @property
    def threshold(self) -> float:
        return self.thresholds[self.familiarity]

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities (N, classes) of logits (N, classes)."""
        z = np.asarray(logits, dtype=np.float64) / self.temperature
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)

    def familiarities(self, logits: np.ndarray, pooled: np.ndarray) -> dict[str, np.ndarray]:
        """Every familiarity (N,) of frames, from their logits (N, classes) and pooled activations (N, C)."""
        z = np.asarray(logits, dtype=np.float64) / self.temperature
        top = z.max(axis=1)
        energy = self.temperature * (top + np.log(np.exp(z - top[:, None]).sum(axis=1)))
        centred = transformed(pooled, self.transform)[:, None, :] - self.means[None]  # (N, classes, C)
        distance = np.einsum("nkc,cd,nkd->nk", centred, self.precision, centred).min(axis=1)
        (e_mean, e_std), (m_mean, m_std) = self.scales
        combined = (energy - e_mean) / e_std + (-distance - m_mean) / m_std
        return {"energy": energy, "msp": self.probabilities(logits).max(axis=1), "mahalanobis": -distance,
                "combined": combined}

    def familiarity_of(self, logits: np.ndarray, pooled: np.ndarray) -> np.ndarray:
        """The configured familiarity (N,) of frames."""
        return self.familiarities(logits, pooled)[self.familiarity]

    def save(self, path: Path) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, format_version=FORMAT_VERSION, temperature=self.temperature, nll=np.asarray(self.nll),
                 means=self.means, precision=self.precision, drawings=self.drawings, transform=self.transform,
                scales=self.scales,
                 threshold_names=np.asarray(list(self.thresholds)),
                 threshold_values=np.asarray(list(self.thresholds.values())))
        atomic_write_bytes(path, buffer.getvalue())

    @classmethod
    def load(cls, path: Path, familiarity: str) -> Calibration:
        with np.load(path) as data:
            if int(data["format_version"]) != FORMAT_VERSION:
                raise ValueError("another calibration format")
            thresholds = {str(k): float(v) for k, v in zip(data["threshold_names"], data["threshold_values"])}
            nll = data["nll"]
            return cls(float(data["temperature"]), (float(nll[0]), float(nll[1])), data["means"], data["precision"],
                       thresholds, familiarity, int(data["drawings"]), str(data["transform"]), data["scales"])


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature ``T > 0`` that minimises the mean NLL of ``labels`` under ``softmax(logits / T)``."""
    x = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([log_t], lr=0.5, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(x / log_t.exp(), y)
        loss.backward()
        return loss

    optimiser.step(closure)
    t = float(log_t.detach().exp())
    return t if np.isfinite(t) and t > 0 else 1.0


def mean_nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """The mean negative log-likelihood of ``labels`` under ``softmax(logits / temperature)``."""
    x = torch.as_tensor(np.asarray(logits), dtype=torch.float64) / temperature
    return float(torch.nn.functional.cross_entropy(x, torch.as_tensor(np.asarray(labels), dtype=torch.long)))


def auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    """The probability that a drawing of ``inside`` has a higher familiarity than one of ``outside`` (ties: a
    half), i.e. the area under the ROC curve of telling them apart."""
    from scipy.stats import rankdata

    inside, outside = np.asarray(inside, dtype=np.float64), np.asarray(outside, dtype=np.float64)
    if not len(inside) or not len(outside):
        return float("nan")
    ranks = rankdata(np.concatenate([inside, outside]))  # ties get their average rank
    return float((ranks[:len(inside)].sum() - len(inside) * (len(inside) + 1) / 2) / (len(inside) * len(outside)))


def _of_classes(scorer: FrameScorer, sketches: Sequence[Sketch], per_class: int) -> tuple[list[Sketch], np.ndarray]:
    """Up to ``per_class`` drawings of each class the model knows, and their class indices."""
    index = scorer.class_index
    counts: dict[int, int] = {}
    chosen, labels = [], []
    for sketch in sketches:
        c = index.get(sketch.word)
        if c is not None and counts.get(c, 0) < per_class and (sketch.strokes or sketch.bitmap is not None):
            counts[c] = counts.get(c, 0) + 1
            chosen.append(sketch)
            labels.append(c)
    return chosen, np.asarray(labels, dtype=np.int64)


def outputs(scorer: FrameScorer, sketches: Sequence[Sketch], batch_size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """The logits (N, classes) and pooled atlas-layer activations (N, C) of drawings, in batches."""
    logits, pooled = [], []
    for start in range(0, len(sketches), batch_size):
        frames = scorer.sketches(sketches[start:start + batch_size], [None] * len(sketches[start:start + batch_size]))
        logits.append(frames.logits)
        pooled.append(frames.pooled)
    return np.concatenate(logits), np.concatenate(pooled)


def fit_calibration(scorer: FrameScorer, val: Sequence[Sketch], fit: Sequence[Sketch],
                    settings: UnsureSettings, batch_size: int = 128) -> Calibration:
    """Fit the temperature on ``val``, the class statistics on ``fit``, and the thresholds on ``val``.

    Args:
        scorer: The round's model.
        val: Complete drawings (the val split); classes the model does not know are skipped.
        fit: Drawings for the Mahalanobis statistics (the ``fit_split``).
        settings: Which familiarity, the share of val drawings that pass, drawings per class.
        batch_size: Drawings per forward pass.

    Raises:
        InputError: No val drawing of the model's classes.
    """
    drawings, labels = _of_classes(scorer, val, settings.max_per_class)
    if not drawings:
        raise InputError("the val split", f"no drawing of the model's classes ({', '.join(scorer.class_names)})",
                         hint="the coach's temperature and threshold are set on the val split of the round's dataset")
    logits, pooled = outputs(scorer, drawings, batch_size)
    temperature = fit_temperature(logits, labels)
    nll = (mean_nll(logits, labels), mean_nll(logits, labels, temperature))
    if nll[1] > nll[0]:  # the optimiser did not improve on T = 1 (a degenerate val split): keep the raw softmax
        temperature, nll = 1.0, (nll[0], nll[0])
    fitted, fit_labels = _of_classes(scorer, fit, settings.max_per_class)
    if len(fitted) < 2:
        fitted, fit_labels = drawings, labels
    _, fit_pooled = outputs(scorer, fitted, batch_size)
    means, precision = _class_statistics(transformed(fit_pooled, settings.transform), fit_labels,
                                         len(scorer.class_names))
    calibration = Calibration(temperature, nll, means, precision, {}, settings.familiarity, len(drawings),
                              settings.transform)
    every = calibration.familiarities(logits, pooled)
    calibration.scales = np.array([[every[name].mean(), max(float(every[name].std()), 1e-8)]
                                   for name in ("energy", "mahalanobis")])
    every["combined"] = calibration.familiarities(logits, pooled)["combined"]
    calibration.thresholds = {name: float(np.quantile(values, 1.0 - settings.val_pass)) for name, values in every.items()}
    return calibration


def transformed(pooled: np.ndarray, transform: str) -> np.ndarray:
    """The pooled activations (N, C) as the Mahalanobis distance reads them: as they are (``none``) or their
    signed square root (``sqrt``)."""
    x = np.asarray(pooled, dtype=np.float64)
    return np.sign(x) * np.sqrt(np.abs(x)) if transform == "sqrt" else x


def _class_statistics(pooled: np.ndarray, labels: np.ndarray, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Class means (classes, C) and the inverse of the shared covariance, shrunk toward its mean variance."""
    x = np.asarray(pooled, dtype=np.float64)
    means = np.zeros((classes, x.shape[1]))
    centred = []
    for c in range(classes):
        mine = x[labels == c]
        if len(mine):
            means[c] = mine.mean(axis=0)
            centred.append(mine - means[c])
        else:
            means[c] = np.inf  # a class without drawings is never the nearest
    residual = np.concatenate(centred)
    covariance = residual.T @ residual / max(len(residual) - 1, 1)
    scale = max(float(np.trace(covariance)) / len(covariance), 1e-8)
    covariance = (1 - SHRINKAGE) * covariance + SHRINKAGE * scale * np.eye(len(covariance))
    return means, np.linalg.inv(covariance)


def cached_calibration(scorer: FrameScorer, val: Sequence[Sketch], fit: Sequence[Sketch], settings: UnsureSettings,
                       cache_dir: str | Path, key_files: Sequence[str | Path]) -> Calibration:
    """The calibration from the cache, or fitted and cached.

    Args:
        scorer: The round's model.
        val: The val split (on a miss).
        fit: The ``fit_split`` (on a miss).
        settings: Its settings (part of the key).
        cache_dir: Where the canon is kept (``<paths.cache>/canon``).
        key_files: Files whose bytes decide whether a cached calibration still holds (the model, the splits).
    """
    fields = {k: v for k, v in asdict(settings).items() if k != "familiarity"}  # all three are fitted at once
    file = Path(cache_dir) / f"calibration-r{scorer.model.round}-{cache_key(scorer, fields, key_files)}.npz"
    if file.is_file():
        try:
            return Calibration.load(file, settings.familiarity)
        except (ValueError, KeyError, OSError):
            log.info("%s: an outdated or damaged calibration, fitting it again", file)
    calibration = fit_calibration(scorer, val, fit, settings)
    file.parent.mkdir(parents=True, exist_ok=True)
    calibration.save(file)
    return calibration

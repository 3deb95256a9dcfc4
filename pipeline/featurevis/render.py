"""Rendering: optimise a batch of images, image i for objective i, in one batched optimisation.

Each step runs the parameterisation (one batched inverse FFT), the transformations (one resampling for
the whole batch), one forward pass that forward hooks cut short once every needed layer has been seen,
and one backward pass to the image parameters only (the model is frozen). Nothing in the step loops over
images in Python; objectives of one kind and layer are evaluated together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from core.errors import ArticulateError, ConfigError
from core.sketch import Sketch
from pipeline.data.raster import RasterSpec
from pipeline.featurevis.objectives import OUTPUT, Objective, group
from pipeline.featurevis.param import make_param
from pipeline.featurevis.param_base import seeds_for
from pipeline.featurevis.strokes import StrokeSettings, StrokeTransform
from pipeline.featurevis.regularizers import Regularizer, boundary, l2, total_variation
from pipeline.featurevis.transforms import Transform, default_transforms
from pipeline.models.input_spec import InputSpec, to_model_input
from pipeline.models.layers import get_layer

#: Defaults, tuned by eye on the embedded SketchCNN (icons that look like strokes and curves, not noise).
DEFAULT_STEPS = 256
DEFAULT_LR = 0.05
#: Logit offset of the initial image: starts dark grey, closer to a sketch's empty background.
DEFAULT_BIAS = -1.0
#: Random-start images used as the reference of quality scores when no real inputs are given.
NOISE_REFERENCE_COUNT = 16
#: Lucid redirects ReLU gradients for the first 16 steps.
RELU_REDIRECT_STEPS = 16
NOISE_REFERENCE_SEED = 1_000_003


@dataclass
class RenderResult:
    """What :func:`render` returns.

    Attributes:
        images: (B, C, H, W) float in [0, 1], in render space: the sketch raster the model sees before
            normalisation (for 1-channel sketch models, white ink on black).
        values: (B,) objective i on image i, untransformed, after optimisation.
        start_values: (B,) the same at the random start, before the first step.
        scores: (B,) quality score: ``(value - mean_ref) / (max_ref - mean_ref)``, where ``mean_ref`` and
            ``max_ref`` are the mean and maximum of the objective over the reference images (the
            ``reference`` inputs when given, else 16 random-start images). 1.0 drives the objective as
            strongly as the strongest reference image, above 1 more strongly; 0 or less is a failure.
        labels: A short caption per image.
        reference: ``"inputs"`` or ``"noise"``: what the scores are relative to.
        strokes: For ``param="strokes"``: per image, its strokes as float32 (2, K) arrays (x row, y row) in
            0..255 (:func:`~pipeline.featurevis.strokes.strokes_sketch` makes a drawing of them); None for pixel
            parameterisations.
    """

    images: torch.Tensor
    values: torch.Tensor
    start_values: torch.Tensor
    scores: torch.Tensor
    labels: list[str] = field(default_factory=list)
    reference: str = "noise"
    strokes: list[list[np.ndarray]] | None = None


class _Stop(Exception):
    """Raised by a hook once every needed layer is captured: the rest of the forward pass is not needed."""


def _first_tensor(output: object) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    logits = getattr(output, "logits", None)  # torchvision GoogLeNetOutputs
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    return None


class LayerCapture:
    """Runs a model and returns the outputs of the named layers, each captured once per forward pass.

    Use as a context manager (hooks are registered on enter, removed on exit).

    Args:
        model: The network.
        layers: Dotted module paths, and/or :data:`OUTPUT` for the model's output.

    Raises:
        UnknownLayerError: If a path names no module (the message lists the valid ones).
    """

    def __init__(self, model: nn.Module, layers: Sequence[str]) -> None:
        self.model = model
        self.need_output = OUTPUT in layers
        self.names: dict[nn.Module, list[str]] = {}
        for name in dict.fromkeys(layer for layer in layers if layer != OUTPUT):
            self.names.setdefault(get_layer(model, name, key="layer"), []).append(name)
        self.count = sum(len(names) for names in self.names.values())
        self.acts: dict[str, torch.Tensor] = {}
        self.handles: list[torch.utils.hooks.RemovableHandle] = []

    def _hook(self, module: nn.Module, _inputs: object, output: object) -> None:
        tensor = _first_tensor(output)
        for name in self.names[module]:
            if name in self.acts:
                continue  # a module called twice: keep its first output
            if tensor is None:
                raise ArticulateError(f"layer {name!r} outputs a {type(output).__name__}, not a tensor; pick another layer")
            self.acts[name] = tensor
        if not self.need_output and len(self.acts) == self.count:
            raise _Stop

    def __enter__(self) -> LayerCapture:
        self.handles = [module.register_forward_hook(self._hook) for module in self.names]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def __call__(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The captured activations for input ``x`` (and the output under :data:`OUTPUT` when asked)."""
        self.acts = {}
        output = None
        try:
            output = self.model(x)
        except _Stop:
            pass
        acts, self.acts = self.acts, {}
        if self.need_output:
            tensor = _first_tensor(output)
            if tensor is None:
                raise ArticulateError(f"{type(self.model).__name__} outputs a {type(output).__name__}, not logits")
            acts[OUTPUT] = tensor
        missing = [name for names in self.names.values() for name in names if name not in acts]
        if missing:
            raise ArticulateError(f"layer(s) {missing} are not used in {type(self.model).__name__}'s forward pass")
        return acts


class _RedirectedReLU(torch.autograd.Function):
    """ReLU whose gradient, for an image that gets none through the ordinary ReLU gradient, is redirected.

    Lucid's ``redirected_relu_grad``: early in an optimisation a unit can be dead for a whole image (every
    input negative), and then the image gets no gradient at all. For such images the gradient passes through
    wherever it would raise the unit's input, so the optimisation can get started.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp_min(0.0)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        relu_grad = grad * (x > 0)
        # `grad` is of the loss being minimised, so grad > 0 would push x lower: where x < 0, block that.
        redirected = torch.where((x < 0) & (grad > 0), torch.zeros_like(grad), grad)
        flowing = relu_grad.reshape(relu_grad.shape[0], -1).abs().amax(dim=1) > 0
        return torch.where(flowing.reshape((-1,) + (1,) * (grad.ndim - 1)), relu_grad, redirected)


@contextmanager
def redirected_relus(model: nn.Module, active: list[bool]) -> Iterator[None]:
    """While ``active[0]`` is true, the model's ``nn.ReLU`` modules use :class:`_RedirectedReLU` gradients.

    Args:
        model: The network (only ReLUs that are modules are affected; functional ``F.relu`` calls are not).
        active: A one-element flag the caller flips off after the first steps.

    Yields:
        Nothing.
    """

    def hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor | None:
        if active[0] and torch.is_grad_enabled() and isinstance(output, torch.Tensor):
            return _RedirectedReLU.apply(inputs[0])
        return None

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.ReLU) and not m.inplace]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and no parameter gradients inside the block; both restored afterwards.

    Args:
        model: The network.

    Yields:
        The same model.
    """
    modes = {module: module.training for module in model.modules()}
    grads = {param: param.requires_grad for param in model.parameters()}
    model.eval()
    for param in grads:
        param.requires_grad_(False)
    try:
        yield model
    finally:
        for module, training in modes.items():
            module.training = training
        for param, flag in grads.items():
            param.requires_grad_(flag)


def objective_values(objectives: Sequence[Objective], acts: dict[str, torch.Tensor]) -> torch.Tensor:
    """Objective i on image i, for a batch whose row i was rendered for objective i.

    Args:
        objectives: B objectives.
        acts: Captured activations, each with B rows.

    Returns:
        Tensor (B,).
    """
    groups = group(objectives)
    if len(groups) == 1:
        cls, _ = groups[0]
        return cls.diag(objectives, acts[objectives[0].layer])
    parts, order = [], []
    for cls, indices in groups:
        members = [objectives[i] for i in indices]
        index = torch.tensor(indices, device=acts[members[0].layer].device)
        parts.append(cls.diag(members, acts[members[0].layer].index_select(0, index)))
        order.extend(indices)
    values = torch.cat(parts)
    inverse = torch.empty(len(order), dtype=torch.long)
    inverse[torch.tensor(order)] = torch.arange(len(order))
    return values[inverse.to(values.device)]


def objective_matrix(objectives: Sequence[Objective], acts: dict[str, torch.Tensor]) -> torch.Tensor:
    """Every objective on every image.

    Args:
        objectives: K objectives.
        acts: Captured activations of N images.

    Returns:
        Tensor (N, K).
    """
    n = next(iter(acts.values())).shape[0]
    out = torch.empty(n, len(objectives))
    for cls, indices in group(objectives):
        members = [objectives[i] for i in indices]
        out[:, indices] = cls.cross(members, acts[members[0].layer]).float().cpu()
    return out


def _check_args(objectives: object, steps: object, lr: object, size: int) -> list[Objective]:
    if isinstance(objectives, Objective):
        objectives = [objectives]
    if not isinstance(objectives, Sequence) or not objectives:
        raise ConfigError("render: give a non-empty list of objectives (one per image)")
    bad = [o for o in objectives if not isinstance(o, Objective)]
    if bad:
        raise ConfigError(f"render: {bad[0]!r} is not an objective; build them with pipeline.featurevis.objectives")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ConfigError(f"render: steps must be an integer >= 0, got {steps!r}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ConfigError(f"render: lr (learning rate) must be a number > 0, got {lr!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 8:
        raise ConfigError(f"render: size must be an integer >= 8 (pixels), got {size!r}")
    return list(objectives)


def default_regularizers(background: float) -> list[Regularizer]:
    """The regularisers :func:`render` uses unless told otherwise: light TV, L2 and boundary penalties.

    Args:
        background: Background value in render space (0 for white ink on black).

    Returns:
        The regularisers.
    """
    return [total_variation(0.1), l2(0.2, background), boundary(0.3, 3, background)]


def render(
    model: nn.Module,
    objectives: Sequence[Objective],
    input_spec: InputSpec,
    *,
    size: int | None = None,
    steps: int = DEFAULT_STEPS,
    lr: float | None = None,
    transforms: Transform | str | None = "default",
    regularizers: Sequence[Regularizer] | str | None = "default",
    param: str = "fourier",
    bias: float = DEFAULT_BIAS,
    seed: int | Sequence[int] = 0,
    relu_redirect_steps: int = RELU_REDIRECT_STEPS,
    reference: torch.Tensor | None = None,
    progress: bool = False,
    device: torch.device | str | None = None,
    on_step: Callable[[float], bool | None] | None = None,
    strokes: StrokeSettings | None = None,
    raster: RasterSpec | None = None,
    fixed: Sketch | Sequence[Sketch] | None = None,
) -> RenderResult:
    """Render one image per objective, all in one batched optimisation.

    Args:
        model: The network; frozen during rendering (eval mode, no parameter gradients), then restored.
        objectives: B objectives; objective i is optimised on image i.
        input_spec: The model's input spec: channels, normalisation and polarity of the render space.
        size: Image side in pixels (default: ``input_spec.size``).
        steps: Optimisation steps (>= 0).
        lr: Adam learning rate (None: :data:`DEFAULT_LR`, or the stroke settings' ``lr`` for strokes).
        transforms: ``"default"`` (:func:`default_transforms` for the size and background; for strokes, the
            stroke-space robustness of the stroke settings), a :class:`Transform`, or None for none.
        regularizers: ``"default"`` (:func:`default_regularizers`; none for strokes), a list, or None for none.
        param: ``"fourier"`` (decorrelated spectrum), ``"pixel"`` or ``"strokes"``
            (:mod:`pipeline.featurevis.strokes`: a drawing of a few strokes).
        bias: Logit offset of the initial image (negative: darker start).
        seed: Seed of image 0 (image i uses ``seed + i``), or one seed per image. Image i gets the same
            start and the same random transformations alone or in a batch.
        relu_redirect_steps: For this many first steps, ReLU modules pass redirected gradients to images
            that get none (Lucid's ``relu_gradient_override``), so dead units can come alive.
        reference: Optional real inputs (N, 1 or C, size, size) in render space for the quality scores.
        progress: Show a progress bar.
        device: Where to run (default: the model's device).
        on_step: Called after every step with the fraction done (a job's progress); returning False stops the
            optimisation there, and the images so far are returned.
        strokes: For ``param="strokes"``: the stroke settings (None: conf/'s ``atlas.icons.strokes``).
        raster: For ``param="strokes"``: the model's raster (line width, padding; None: the default raster at
            ``size`` in the model's polarity).
        fixed: For ``param="strokes"``: a drawing (or one per objective) drawn under the strokes and never
            changed.

    Returns:
        The images, their objective values and quality scores (and the strokes, for ``param="strokes"``).

    Raises:
        ConfigError: If an argument is out of range, or an objective does not fit its layer (a channel out
            of range, a direction of the wrong length: the message names the layer and its channels).
        UnknownLayerError: If an objective names a layer the model does not have.
    """
    size = input_spec.size if size is None else size
    options = _param_options(param, input_spec, strokes, raster, fixed)
    if lr is None:
        lr = options["settings"].lr if options else DEFAULT_LR
    objectives = _check_args(objectives, steps, lr, size)
    seeds = seeds_for(len(objectives), seed)
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    background = 1.0 if input_spec.invert else 0.0
    transforms, regularizers = _chosen(transforms, regularizers, size, background, options.get("settings"))
    layers = list(dict.fromkeys(layer for o in objectives for layer in o.layers))
    batch, channels = len(objectives), input_spec.channels

    redirect = [False]
    # The ReLU hooks go on before the capture hooks, so captured layers see the redirected outputs.
    with frozen(model), redirected_relus(model, redirect), LayerCapture(model, layers) as capture, torch.enable_grad():
        with torch.no_grad():  # shapes, to check the objectives against their layers before optimising
            probe = capture(to_model_input(torch.full((1, channels, size, size), background, device=device), input_spec))
        for objective in objectives:
            objective.check(probe[objective.layer].shape)

        image = make_param(param, batch, channels, size, seed=seeds, bias=bias, device=device, **options)
        start_values = _optimise(image, objectives, capture, input_spec, transforms, regularizers, seeds, redirect,
                                 steps=steps, lr=lr, relu_redirect_steps=relu_redirect_steps, device=device,
                                 progress=progress, on_step=on_step)

        with torch.no_grad():
            images = image().detach()
            values = objective_values(objectives, capture(to_model_input(images, input_spec))).float().cpu()
            scores, kind = _scores(model, capture, objectives, values, input_spec, size, param, bias, reference, device,
                                   options)
    return RenderResult(
        images=images.float().cpu(), values=values, start_values=start_values, scores=scores,
        labels=[o.label for o in objectives], reference=kind, strokes=getattr(image, "strokes", lambda: None)(),
    )


def _param_options(param: str, input_spec: InputSpec, strokes: StrokeSettings | None, raster: RasterSpec | None,
                   fixed: Sketch | Sequence[Sketch] | None) -> dict[str, Any]:
    """:func:`render`'s keyword arguments of :func:`make_param` beyond the common ones: the stroke settings, the
    raster and the fixed drawings for ``param="strokes"``, nothing for pixel parameterisations.

    Raises:
        ConfigError: Stroke options given for a pixel parameterisation.
    """
    if param != "strokes":
        if fixed is not None:
            raise ConfigError(f"render: fixed strokes need param='strokes', not {param!r}")
        return {}
    if strokes is None:
        from pipeline.config import default

        strokes = default(StrokeSettings)
    if raster is None:
        raster = RasterSpec(size=input_spec.size, invert=input_spec.invert)
    options: dict[str, Any] = {"settings": strokes, "raster": raster}
    if fixed is not None:
        options["fixed"] = fixed
    return options


def _chosen(transforms: Transform | str | None, regularizers: Sequence[Regularizer] | str | None, size: int,
            background: float, strokes: StrokeSettings | None = None) -> tuple[Transform | None, list[Regularizer]]:
    """:func:`render`'s transforms and regularisers, ``"default"`` replaced by the defaults for the size and
    background (for strokes, given their settings: their robustness in stroke space, and no regulariser).

    Raises:
        ConfigError: A string other than ``"default"``.
    """
    if isinstance(transforms, str):
        if transforms != "default":
            raise ConfigError(f"render: transforms must be 'default', a Transform or None, got {transforms!r}")
        transforms = default_transforms(size, fill=background) if strokes is None else StrokeTransform(strokes)
    if isinstance(regularizers, str):
        if regularizers != "default":
            raise ConfigError(f"render: regularizers must be 'default', a list or None, got {regularizers!r}")
        regularizers = default_regularizers(background) if strokes is None else []
    return transforms, list(regularizers or [])


def _optimise(image: nn.Module, objectives: list[Objective], capture: LayerCapture, input_spec: InputSpec,
              transforms: Transform | None, regularizers: list[Regularizer], seeds: list[int], redirect: list[bool], *,
              steps: int, lr: float, relu_redirect_steps: int, device: torch.device | str,
              progress: bool, on_step: Callable[[float], bool | None] | None) -> torch.Tensor:
    """:func:`render`'s optimisation: Adam on the image parameters, the objectives' values up, the regularisers'
    penalties down, each step on randomly transformed images (the ReLUs redirected for the first steps).

    Args:
        image: The parametrised images (:func:`~pipeline.featurevis.param.make_param`), changed in place.
        redirect: The flag the redirected ReLUs read, set here step by step and False at the end.
        Others: As for :func:`render`.

    Returns:
        The objectives' values (float32, on the CPU) before the first step.
    """
    optimizer = torch.optim.Adam(image.parameters(), lr=lr)
    draws = transforms.num_random if transforms is not None else 0
    # All random numbers for all steps up front, from one generator per image (see the seed argument).
    uniforms = torch.stack(
        [torch.rand(steps, draws, generator=torch.Generator().manual_seed(s * 1_000_003 + 17)) for s in seeds]
    ).to(device)

    with torch.no_grad():
        start_values = objective_values(objectives, capture(to_model_input(image(), input_spec))).float().cpu()
    loop = range(steps)
    if progress:
        from tqdm import tqdm

        loop = tqdm(loop, desc=f"rendering {len(objectives)} image(s)", unit="step", mininterval=2.0)
    for step in loop:
        redirect[0] = step < relu_redirect_steps
        images, x = image.sample(transforms, uniforms[:, step])
        values = objective_values(objectives, capture(to_model_input(x, input_spec)))
        loss = image.penalty().sum() - values.sum()
        for regularizer in regularizers:
            loss = loss + regularizer(images).sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if on_step is not None and on_step((step + 1) / steps) is False:
            break
    redirect[0] = False
    return start_values


def _scores(
    model: nn.Module,
    capture: LayerCapture,
    objectives: list[Objective],
    values: torch.Tensor,
    spec: InputSpec,
    size: int,
    param: str,
    bias: float,
    reference: torch.Tensor | None,
    device: torch.device | str,
    options: dict[str, Any],
) -> tuple[torch.Tensor, str]:
    if reference is None:
        seeds = list(range(NOISE_REFERENCE_SEED, NOISE_REFERENCE_SEED + NOISE_REFERENCE_COUNT))
        if "fixed" in options and not isinstance(options["fixed"], Sketch):  # one drawing per objective: none here
            options = {k: v for k, v in options.items() if k != "fixed"}
        reference = make_param(param, len(seeds), spec.channels, size, seed=seeds, bias=bias, device=device, **options)()
        kind = "noise"
    else:
        if not isinstance(reference, torch.Tensor) or reference.ndim != 4 or reference.shape[-2:] != (size, size):
            shape = tuple(reference.shape) if isinstance(reference, torch.Tensor) else type(reference).__name__
            raise ConfigError(f"render: reference must be a tensor (N, 1 or {spec.channels}, {size}, {size}) in [0, 1], got {shape}")
        kind = "inputs"
    rows = [
        objective_matrix(objectives, capture(to_model_input(chunk.to(device).float(), spec)))
        for chunk in reference.split(64)
    ]
    matrix = torch.cat(rows)  # (N, B)
    mean, best = matrix.mean(dim=0), matrix.max(dim=0).values
    spread = (best - mean).clamp_min(1e-8 + 1e-6 * mean.abs().max().item())
    return (values - mean) / spread, kind


def render_one_by_one(
    model: nn.Module,
    objectives: Sequence[Objective],
    input_spec: InputSpec,
    *,
    seed: int | Sequence[int] = 0,
    **kwargs: object,
) -> RenderResult:
    """Render each objective in its own optimisation (for comparison with the batched :func:`render`).

    Args:
        model: The network.
        objectives: B objectives.
        input_spec: The model's input spec.
        seed: As in :func:`render`: image i uses ``seed + i``, so results match the batched render.
        **kwargs: Any other keyword argument of :func:`render`.

    Returns:
        The results, concatenated.

    Raises:
        ConfigError: As :func:`render`.
        UnknownLayerError: As :func:`render`.
    """
    objectives = list(objectives) if not isinstance(objectives, Objective) else [objectives]
    if not objectives:
        raise ConfigError("render: give a non-empty list of objectives (one per image)")
    seeds = seeds_for(len(objectives), seed)
    results = [render(model, [o], input_spec, seed=[s], **kwargs) for o, s in zip(objectives, seeds)]
    return RenderResult(
        images=torch.cat([r.images for r in results]),
        values=torch.cat([r.values for r in results]),
        start_values=torch.cat([r.start_values for r in results]),
        scores=torch.cat([r.scores for r in results]),
        labels=[label for r in results for label in r.labels],
        reference=results[0].reference if results else "noise",
        strokes=None if results[0].strokes is None else [image for r in results for image in r.strokes],
    )

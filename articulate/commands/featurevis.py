"""The ``articulate render`` and ``articulate dream`` commands (registered by :func:`add_commands`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from articulate.commands import input_file_limit, parse_int_list, read_sketch_ref
from core.errors import ConfigError, InputError

if TYPE_CHECKING:
    import torch

DEFAULT_MODEL = "models/round_0/model.pt"


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``render`` and ``dream`` on the ``articulate`` command's subparsers.

    Args:
        subparsers: What ``ArgumentParser.add_subparsers`` returned.
    """
    p = subparsers.add_parser("render", help="render feature visualizations of a layer's channels, neurons or directions to PNG")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"trained model file (default {DEFAULT_MODEL})")
    p.add_argument("--layer", default=None, help="layer (module path); default: the model's atlas layer")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--channel", type=int, help="one channel")
    what.add_argument("--channels", help="several channels, e.g. 0-15 or 0,3,7 (one batched optimisation)")
    what.add_argument("--neuron", help="C,Y,X: channel C at position (Y, X) of the layer's map; C alone: the centre")
    what.add_argument("--direction", help=".npy file: a vector (C,) or several directions (K, C) of the layer")
    what.add_argument("--class", dest="class_", metavar="CLASS", help="a class name or index (its logit)")
    p.add_argument("--steps", type=int, default=256, help="optimisation steps (default 256)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default 0.05; strokes: atlas.icons.strokes.lr)")
    p.add_argument("--cos-power", type=float, default=1.0, help="cosine power of direction objectives (default 1)")
    p.add_argument("--param", choices=("fourier", "pixel", "strokes"), default="fourier",
                   help="image parameterisation; strokes: a few pen strokes, also written as an .ndjson drawing "
                        "beside the PNG")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reference", default=None,
                   help="ndjson of real sketches (first 256 used) to score against; default: random-start images")
    p.add_argument("--out", default="icons.png", help="PNG to write (default icons.png)")
    p.add_argument("--grid", action="store_true", help="several images: one labelled grid instead of one PNG each")
    p.set_defaults(action=render_command)

    p = subparsers.add_parser("dream", help="DeepDream: amplify a layer or channel on a sketch, with octaves")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"trained model file (default {DEFAULT_MODEL})")
    p.add_argument("--sketch", required=True, help="FILE.ndjson:KEY_ID or FILE.ndjson:N (the N-th drawing, from 1)")
    p.add_argument("--layer", default=None, help="layer (module path); default: the model's atlas layer")
    toward = p.add_mutually_exclusive_group()
    toward.add_argument("--channel", type=int, default=None, help="amplify one channel (default: the whole layer)")
    toward.add_argument("--concept", default=None, help="dream toward a named concept (name or id; the model's "
                                                      "concept head on its atlas layer)")
    p.add_argument("--octaves", type=int, default=4, help="scales of the image pyramid (default 4)")
    p.add_argument("--octave-scale", type=float, default=1.4, help="size ratio between octaves (default 1.4)")
    p.add_argument("--steps", type=int, default=20, help="steps per octave (default 20)")
    p.add_argument("--lr", type=float, default=0.02, help="step size (default 0.02)")
    p.add_argument("--out", default="dream.png", help="side-by-side PNG to write (default dream.png)")
    p.set_defaults(action=dream_command)


def _objectives(args: argparse.Namespace, layer: str, class_names: list[str]) -> list:
    from pipeline.featurevis import objectives as obj

    if args.channel is not None:
        return [obj.channel(layer, args.channel)]
    if args.channels is not None:
        return [obj.channel(layer, c) for c in parse_int_list(args.channels, "--channels", "0-15 or 0,3,7")]
    if args.neuron is not None:
        try:
            values = [int(v) for v in args.neuron.split(",")]
        except ValueError:
            values = []
        if len(values) not in (1, 3):
            raise ConfigError(f"--neuron: expected C or C,Y,X (integers), got {args.neuron!r}")
        return [obj.neuron(layer, *values)]
    if args.direction is not None:
        path = Path(args.direction)
        try:
            import numpy as np

            vectors = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise InputError(path, "no such file", hint="give a .npy file saved with numpy.save") from None
        except (OSError, ValueError) as error:
            raise InputError(path, f"not a readable .npy array ({error})") from None
        if vectors.ndim == 1:
            vectors = vectors[None]
        if vectors.ndim != 2 or not np.issubdtype(vectors.dtype, np.number):
            raise InputError(path, f"expected a numeric array (C,) or (K, C), got shape {vectors.shape} of {vectors.dtype}")
        return [obj.direction(layer, v, cos_power=args.cos_power) for v in vectors]
    name = args.class_
    if name in class_names:
        return [obj.class_logit(class_names.index(name))]
    if name.isdigit() and int(name) < len(class_names):
        return [obj.class_logit(int(name))]
    raise ConfigError(f"--class: unknown class {name!r}; the model's classes are {', '.join(class_names)}")


def _reference(path: str | None, trained: object, limit: int = 256) -> torch.Tensor | None:
    if path is None:
        return None
    import torch

    from core.ndjson import read_ndjson
    from pipeline.data.raster import rasterize_batch

    sketches = read_ndjson(path, on_error="skip", limit=limit, max_bytes=input_file_limit()).sketches
    return torch.from_numpy(rasterize_batch(sketches, trained.raster))[:, None]


def _write_drawings(trained: Any, result: Any, path: Path) -> None:
    """Write stroke visualizations as Quick, Draw! lines, one a visualization, each named as the class the model
    reads it as (so the coach and the sketch page open it as a drawing of that class)."""
    from core.ndjson import write_ndjson
    from labeling.drawn import read_as
    from pipeline.featurevis.strokes import strokes_sketch

    words = [read_as(trained.net, image, trained.input_spec, trained.class_names)[0] for image in result.images]
    count = write_ndjson(path, [strokes_sketch(drawing, word, f"visualization-{i:03d}")
                                for i, (drawing, word) in enumerate(zip(result.strokes, words))])
    print(f"wrote {path}: {count} drawing(s) as strokes (open one in /draw or /sketch, or replay it with "
          f"articulate feedback --sketch {path}:1)")


def render_command(args: argparse.Namespace) -> None:
    """``articulate render``: render the asked objectives in one batched optimisation and write PNG(s).

    Args:
        args: Parsed options.

    Raises:
        ArticulateError: On a bad model file, layer, index, vector or option.
    """
    from pipeline.featurevis.images import grid_image, save_png, to_pil, display_zoom
    from pipeline.featurevis.render import render
    from pipeline.models.build import load_trained

    trained = load_trained(args.model)
    layer = args.layer or trained.layer
    objectives = _objectives(args, layer, trained.class_names)
    reference = _reference(args.reference, trained)
    result = render(trained.net, objectives, trained.input_spec, steps=args.steps, lr=args.lr, param=args.param,
                    seed=args.seed, reference=reference, progress=len(objectives) * args.steps > 2000)
    out = Path(args.out)
    if result.strokes is not None:
        _write_drawings(trained, result, out.with_suffix(".ndjson"))
    captions = [f"{label}  q={score:.2g}" for label, score in zip(result.labels, result.scores.tolist())]
    if len(objectives) == 1 or args.grid:
        paths = [save_png(grid_image(result.images, captions), out)]
    else:
        zoom = display_zoom(result.images.shape[-1])
        paths = [save_png(to_pil(image, zoom), out.with_name(f"{out.stem}_{i:03d}{out.suffix or '.png'}"))
                 for i, image in enumerate(result.images)]
    against = "the strongest reference sketch" if result.reference == "inputs" else "random-start images"
    print(f"layer {layer}: {len(objectives)} image(s), {args.steps} steps; quality score 1 = as strong as {against}")
    for label, value, score in zip(result.labels, result.values.tolist(), result.scores.tolist()):
        print(f"  {label:24s} objective {value:10.4g}  score {score:10.4g}")
    for path in paths:
        print(f"wrote {path}")


def dream_command(args: argparse.Namespace) -> None:
    """``articulate dream``: dream on one sketch and write original | dreamed side by side.

    Args:
        args: Parsed options.

    Raises:
        ArticulateError: On a bad model file, sketch reference, layer or option.
    """
    import torch

    from pipeline.data.raster import rasterize
    from pipeline.featurevis.dream import deepdream
    from pipeline.featurevis.images import save_png, side_by_side
    from pipeline.models.build import load_trained

    chosen = read_sketch_ref(args.sketch, input_file_limit())
    trained = load_trained(args.model)
    original = torch.from_numpy(rasterize(chosen, trained.raster))[None]
    layer = args.layer or trained.layer
    objective, what = None, layer if args.channel is None else f"{layer} ch {args.channel}"
    if args.concept is not None:
        from pipeline.editing.surgery import Surgeon
        from pipeline.featurevis.objectives import Direction

        surgeon = Surgeon(trained)
        k = surgeon.concept_index(args.concept)
        layer = trained.layer  # the concept head reads the atlas layer
        objective, what = Direction(layer, surgeon.weights[k]), f"concept {surgeon.names[k]}"
    dreamed = deepdream(trained.net, original, trained.input_spec, layer, channel=args.channel, objective=objective,
                        octaves=args.octaves, octave_scale=args.octave_scale, steps=args.steps, lr=args.lr)[0]
    written = save_png(side_by_side([original, dreamed], [f"{chosen.word} {chosen.key_id}", f"dream {what}"]), args.out)
    print(f"wrote {written}")

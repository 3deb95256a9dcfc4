"""Running a model to a layer, and on from it with an edited activation map.

The network is traced with ``torch.fx`` with the layer kept as one node, and run by an interpreter that keeps
every value: :meth:`LayerRunner.resume` then pre-fills the values of every node before the layer (graph order
is topological: none of them depends on it) and the layer's own value with the edited map, so only the layers
after it run, and a skip connection around the layer still sees its original input. A network that cannot be
traced (data-dependent control flow) falls back to a full forward pass with a hook that swaps the layer's
output: slower, same result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn

from core.errors import ArticulateError
from pipeline.models.layers import get_layer
from pipeline.models.outputs import logits_of

__all__ = ["LayerRun", "LayerRunner"]


class _KeepLayer(fx.Tracer):
    """Traces a network with the layer ``path`` as one call (not its insides)."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return qualified_name == self.path or super().is_leaf_module(module, qualified_name)


class _Keeper(fx.Interpreter):
    """An interpreter that keeps every node's value (for resuming after the layer)."""

    def __init__(self, module: fx.GraphModule) -> None:
        super().__init__(module, garbage_collect_values=False)


@dataclass
class LayerRun:
    """A forward pass up to (and through) the layer.

    Attributes:
        activations: (N, C, H, W) the layer's output.
        logits: (N, classes) the class logits of the unedited pass.
        saved: What resuming needs (the traced values before the layer, or the input for the fallback).
    """

    activations: torch.Tensor
    logits: torch.Tensor
    saved: Any


class LayerRunner:
    """Runs ``net`` to ``layer`` and on from it.

    Args:
        net: The network (put in eval mode).
        layer: Module path of the layer.

    Raises:
        UnknownLayerError: ``layer`` is not a module of ``net``.
    """

    def __init__(self, net: nn.Module, layer: str) -> None:
        get_layer(net, layer, key="model.layer")
        self.net, self.layer = net.eval(), layer
        self.graph: fx.GraphModule | None = None
        try:
            tracer = _KeepLayer(layer)
            graph = tracer.trace(net)
            self.graph = fx.GraphModule(tracer.root, graph)
            nodes = list(graph.nodes)
            self._at = next(i for i, n in enumerate(nodes) if n.op == "call_module" and n.target == layer)
            self._nodes = nodes
            # The values before the layer that the layers after it read and that depend on the input (one row an
            # image; not constants or parameters): those a subset of the images (rows) must narrow.
            batched: set[fx.Node] = set()
            for node in nodes:
                if node.op == "placeholder" or any(n in batched for n in node.all_input_nodes):
                    batched.add(node)
            before = set(nodes[:self._at + 1])
            self._tail_inputs = {n for node in nodes[self._at + 1:] for n in node.all_input_nodes
                                 if n in before and n in batched}
        except Exception:  # noqa: BLE001 - any tracing failure: fall back to hooks
            self.graph = None

    @property
    def traced(self) -> bool:
        """Whether resuming runs only the layers after the atlas layer (else: a full pass with a hook)."""
        return self.graph is not None

    @torch.no_grad()
    def run(self, x: torch.Tensor) -> LayerRun:
        """The layer's activations and the class logits for model-ready input ``x``."""
        if self.graph is not None:
            keeper = _Keeper(self.graph)
            out = keeper.run(x)
            env = keeper.env
            layer_value = env[self._nodes[self._at]]
            saved = {node: env[node] for node in self._nodes[:self._at + 1] if node in env}
            return LayerRun(layer_value, logits_of(out), saved)
        captured: dict[str, torch.Tensor] = {}
        handle = get_layer(self.net, self.layer).register_forward_hook(
            lambda _m, _i, out: captured.setdefault("out", out))
        try:
            logits = logits_of(self.net(x))
        finally:
            handle.remove()
        if "out" not in captured:
            raise ArticulateError(f"layer {self.layer} did not run in the forward pass")
        return LayerRun(captured["out"], logits, x)

    def rows(self, run: LayerRun, which: torch.Tensor) -> LayerRun:
        """The same pass for some of its images (``which``: an index or a bool mask over the batch), so that
        resuming runs the layers after the layer on those images only."""
        if self.graph is None:
            saved = run.saved[which]
        else:
            # values the layers after the layer never read stay as they are: resuming only skips over them
            saved = {node: value[which] if node in self._tail_inputs and isinstance(value, torch.Tensor) else value
                     for node, value in run.saved.items()}
        return LayerRun(run.activations[which], run.logits[which], saved)

    @torch.no_grad()
    def resume(self, run: LayerRun, edited: torch.Tensor) -> torch.Tensor:
        """The class logits when the layer outputs ``edited`` instead (same shape as ``run.activations``).

        Raises:
            ArticulateError: ``edited`` has another shape.
        """
        return self.resume_with_grad(run, edited)

    def resume_with_grad(self, run: LayerRun, edited: torch.Tensor) -> torch.Tensor:
        """:meth:`resume` under the caller's autograd mode: with ``edited`` requiring grad, the logits' gradient
        with respect to the layer (attribution) is one backward pass away."""
        if tuple(edited.shape) != tuple(run.activations.shape):
            raise ArticulateError(f"an edited map of shape {tuple(edited.shape)} for layer {self.layer}, whose maps "
                                  f"are {tuple(run.activations.shape)}")
        if self.graph is not None:
            env = dict(run.saved)
            env[self._nodes[self._at]] = edited
            return logits_of(_Keeper(self.graph).run(*[env[n] for n in self._nodes if n.op == "placeholder"],
                                                     initial_env=env))
        handle = get_layer(self.net, self.layer).register_forward_hook(lambda _m, _i, _out: edited)
        try:
            return logits_of(self.net(run.saved))
        finally:
            handle.remove()

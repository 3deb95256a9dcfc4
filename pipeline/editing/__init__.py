"""Reaching into the model: edit the atlas layer's activation maps and run the rest of the network on them.

:mod:`~pipeline.editing.runner` runs a model up to a layer and on from it (the layers before are not run
again); :mod:`~pipeline.editing.edits` holds the edits (scale a direction, a concept's, at every position or only
where the concept fires: ablation at factor 0, boosting above 1; scale or paint a channel); and
:mod:`~pipeline.editing.reliance` measures which concepts the model relies on (the drop in each class's
accuracy when a concept is ablated).
"""

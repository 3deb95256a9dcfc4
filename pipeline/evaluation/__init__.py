"""Evaluation of a round: metrics of concept discovery and localisation against true parts, and figures.

:mod:`~pipeline.evaluation.metrics` defines the metrics (pure numpy), :mod:`~pipeline.evaluation.inference`
runs a round's model over a split, :mod:`~pipeline.evaluation.figures` draws the concept maps and the IoU
matrix; the stage is :mod:`pipeline.stages.evaluate`.
"""

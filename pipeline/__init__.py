"""Articulate: human-in-the-loop retraining of sketch models through activation atlases."""

__version__ = "0.1.0"

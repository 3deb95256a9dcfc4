"""Sketch data: the generator, readers for Quick, Draw! files, rasterisation and splits."""

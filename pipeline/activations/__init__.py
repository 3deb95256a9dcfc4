"""Spatial activations of a hidden layer, their attribution, and the memory-mapped store that holds them."""

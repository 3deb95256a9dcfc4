"""The human side of the loop: the concept store, the labeling web app and the simulated artist.

Planned (see DESIGN.md, "Concept store" and "The simulated artist"); the pipeline stages do not depend on it yet.
"""

"""Articulate: human-in-the-loop retraining of sketch models through activation atlases."""

import os as _os

__version__ = "0.1.0"

# No network but package registries: MLflow sends usage telemetry from every process that imports it (its client
# starts at `import mlflow`) and from the UI's pages (the server tells them whether to). Every process of the
# project imports this package first, and the processes it starts (stages, `mlflow ui`) inherit the variables.
# MLflow reads both: its own switch, and the common DO_NOT_TRACK.
_os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
_os.environ["DO_NOT_TRACK"] = "true"

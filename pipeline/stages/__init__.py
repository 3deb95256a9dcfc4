"""Pipeline stages: each a module with one job and a ``run(cfg)``, runnable alone as
``python -m pipeline.stages.<name> [hydra overrides]`` and run by DVC as ``... --params``."""

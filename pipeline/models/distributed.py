"""Training across processes: Lightning's ``ddp_spawn`` strategy from config (``trainer.strategy=ddp_spawn``,
``trainer.devices``, ``trainer.num_nodes``; gloo on CPU, NCCL on GPUs).

The stages use the *spawn* flavour of DDP: their set-up (data, MLflow run, targets) and their writing (model.pt,
figures, info.json) run once, in the stage's own process; only ``trainer.fit`` runs in the spawned processes, and
rank 0's weights come back to the stage. Plain ``ddp`` would start the whole stage again in every process.
"""

from __future__ import annotations

from omegaconf import DictConfig

from core.errors import ConfigError

__all__ = ["prepare_strategy"]

#: Strategies that start the whole script again in every process (the stages cannot run under them).
RELAUNCHING = ("ddp", "ddp_find_unused_parameters_true", "fsdp", "deepspeed")


def prepare_strategy(trainer_cfg: DictConfig) -> None:
    """Check the configured strategy and ready torch for it.

    Raises:
        ConfigError: A strategy that would run the stage once per process.
    """
    strategy = str(trainer_cfg.strategy)
    if strategy in RELAUNCHING:
        raise ConfigError(f"trainer.strategy={strategy} starts the whole stage again in every process; use "
                          "trainer.strategy=ddp_spawn (the same DDP training, with the stage's set-up and writing "
                          "done once)")
    if "spawn" in strategy:
        import torch.multiprocessing

        # The spawned processes receive the model and the datasets pickled; the default sharing of tensors by file
        # descriptor hands one storage over twice when two objects point at it, which the spawn refuses.
        torch.multiprocessing.set_sharing_strategy("file_system")

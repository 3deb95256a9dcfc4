"""Subcommands of ``articulate``, one module per family; each registers itself with ``add_commands``."""

"""The concept store: the human's decisions, in one git-tracked YAML file plus an append-only event log.

Its own package, beneath both the pipeline (fine-tuning and evaluation read it) and the labeling app (which
writes it): ``concepts`` holds the state and the operations, ``store_format`` the two file formats, ``store``
the durable, locked :class:`~conceptstore.store.ConceptStore`, ``events`` the words for its events. It imports
nothing of :mod:`labeling`.
"""

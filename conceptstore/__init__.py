"""The concept store: the human's decisions, in one git-tracked YAML file plus an append-only event log.

Its own package, beneath both the pipeline (fine-tuning and evaluation read it) and the labeling app (which
writes it): ``concepts`` holds the state and the operations, ``store_format`` the two file formats, ``store``
the durable, locked :class:`~conceptstore.store.ConceptStore` (on ``store_reader``, its files and read-side
queries; ``store_writer``, its lock and the commit of one event; ``store_recovery``, finishing an interrupted
write and recording a hand edit; ``store_ops``, from a request to a committed event), ``events`` the words for
its events. It imports nothing of :mod:`labeling`.
"""

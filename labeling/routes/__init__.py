"""The labeling app's routes, one router per concern: :mod:`~labeling.routes.files` (the page, its scripts,
the atlas's files and the point images), :mod:`~labeling.routes.atlas` (the atlas, its points, selections) and
:mod:`~labeling.routes.concepts` (the concept store: reading, every write, undo).
``docs/reference/http-api.md`` documents them."""

"""The ``articulate`` command, which joins the pipeline (:mod:`pipeline`) and the human side (:mod:`labeling`)."""

"""The drawing coach: live feedback on a drawing in progress, in the round's own concepts.

After every stroke, the round's model looks at the partial drawing: its class probabilities, and for each
concept (the concept head's named concepts, or in round 0 the atlas's clusters) a *score*: how much of the
drawing the concept covers, optionally weighted by how much those positions count toward the target class
(attribution, as in The Building Blocks of Interpretability). A score is read against the *canon*, the scores
of complete drawings of the target class (the val split): level 1 is as much as a typical complete drawing.
Events come from a thresholded difference between successive frames, the three kinds of the founding
exhibit: a concept **improved** (its level rose by a step), looks **complete** (it reached what most complete
drawings have) or is **missing** (the class usually has it, the drawing does not yet).

Modules, one job each: :mod:`~pipeline.coach.concept_set` (what a concept is on the layer),
:mod:`~pipeline.coach.scorer` (one forward and backward pass per batch of frames),
:mod:`~pipeline.coach.canon` (per class, per concept reference scores, cached per round),
:mod:`~pipeline.coach.events` (the rules), :mod:`~pipeline.coach.coach` (a drawing's feedback and replay),
:mod:`~pipeline.coach.chart` (the timeline as a picture).
"""

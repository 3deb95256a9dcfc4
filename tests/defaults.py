"""The configurable classes as the tests build them: from conf/'s default composition (their one source of
values), a test's keyword arguments winning.

Where a test was written against a value other than conf/'s (the classes once had Python defaults of their own),
that value is given here, so the test still checks what it checked: the names below are the classes' builders, to
be imported in place of the classes.
"""

from __future__ import annotations

from functools import partial

from labeling import artist, artist_review, preview, settings
from pipeline.atlas import build, clustering, grid, icons, projection, sampling
from pipeline.coach import calibration, canon, coach, events
from pipeline.data import generator
from pipeline.finetune import module, targets
from pipeline.config import default

Guides = partial(default, artist_review.Guides)
SimulatedArtist = partial(default, artist.SimulatedArtist, name_unticked=0, novel="part", held_at=0)
PositionSampler = partial(default, sampling.PositionSampler, count=20000, weighting="attribution")
Projection = partial(default, projection.Projection, n_epochs=None, fit_sample=None)
AtlasGrid = partial(default, grid.AtlasGrid, size=20, clip=0.0)
IconParams = partial(default, icons.IconParams, steps=256, fragment=True)
Clusterer = partial(default, clustering.Clusterer)
AtlasParams = partial(default, build.AtlasParams)
AppSettings = partial(default, settings.AppSettings, cache_dir=None, evaluation_dir=None)
SketchGenerator = partial(default, generator.SketchGenerator)
CanonSettings = partial(default, canon.CanonSettings)
UnsureSettings = partial(default, calibration.UnsureSettings)
ProbeSettings = partial(default, preview.ProbeSettings)
TargetWeights = partial(default, targets.TargetWeights)
EventRules = partial(default, events.EventRules)
Limits = partial(default, coach.Limits)
ConceptFinetuner = partial(default, module.ConceptFinetuner, stem=())

"""The activation atlas: sampled ink positions laid out in 2-D, a grid of feature-visualization icons, and
clusters with exemplar patches and statistics. See :mod:`pipeline.atlas.build` for the steps and the layout
of an atlas folder.
"""

from pipeline.atlas.build import Atlas, AtlasParams, build_atlas, read_atlas, write_atlas
from pipeline.atlas.clustering import Clusterer, Clustering
from pipeline.atlas.grid import AtlasGrid, GridLayout
from pipeline.atlas.icons import IconParams
from pipeline.atlas.patches import PatchMaker, receptive_field_patch, select_exemplars
from pipeline.atlas.projection import Projection
from pipeline.atlas.sampling import PositionSample, PositionSampler
from pipeline.atlas.stats import ClusterStats, atlas_nmi, atlas_purity, cluster_stats

__all__ = ["Atlas", "AtlasGrid", "AtlasParams", "ClusterStats", "Clusterer", "Clustering", "GridLayout",
           "IconParams", "PatchMaker", "PositionSample", "PositionSampler", "Projection", "atlas_nmi",
           "atlas_purity", "build_atlas", "cluster_stats", "read_atlas", "receptive_field_patch",
           "select_exemplars", "write_atlas"]

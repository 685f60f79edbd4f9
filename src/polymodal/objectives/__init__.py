"""Training objectives, one file each, registered in :data:`OBJECTIVES`.

Each returns one dataclass with a scalar ``loss`` and named ``terms`` and ``metrics``.
"""

from polymodal.objectives.base import OBJECTIVES, ObjectiveOutput
from polymodal.objectives.contrastive import ContrastiveOutput, InfoNCELoss, info_nce
from polymodal.objectives.gather import gather_features, is_distributed

__all__ = [
    "OBJECTIVES",
    "ObjectiveOutput",
    "ContrastiveOutput",
    "InfoNCELoss",
    "info_nce",
    "gather_features",
    "is_distributed",
]

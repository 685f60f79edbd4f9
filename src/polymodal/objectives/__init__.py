"""Training objectives, one file each, registered in :data:`OBJECTIVES`.

Each returns one dataclass with a scalar ``loss`` and named ``terms`` and ``metrics``.
"""

from polymodal.objectives.base import OBJECTIVES, ObjectiveOutput, build_objective
from polymodal.objectives.captioning import CaptioningLoss, teacher_forcing
from polymodal.objectives.classification import ClassificationLoss, RegressionLoss
from polymodal.objectives.contrastive import ContrastiveOutput, InfoNCELoss, info_nce
from polymodal.objectives.gather import gather_features, is_distributed
from polymodal.objectives.masked_patch import (
    MaskedPatchModelling,
    MaskedPatchOutput,
    Masking,
    patchify,
    random_masking,
)
from polymodal.objectives.matching import MatchingLoss, MatchingOutput, sample_hard_negatives
from polymodal.objectives.mlm import IGNORE_INDEX, MaskedTokens, MLMLoss, mask_tokens

__all__ = [
    "OBJECTIVES",
    "ObjectiveOutput",
    "build_objective",
    "ContrastiveOutput",
    "InfoNCELoss",
    "info_nce",
    "gather_features",
    "is_distributed",
    "CaptioningLoss",
    "teacher_forcing",
    "ClassificationLoss",
    "RegressionLoss",
    "MaskedPatchModelling",
    "MaskedPatchOutput",
    "Masking",
    "patchify",
    "random_masking",
    "MatchingLoss",
    "MatchingOutput",
    "sample_hard_negatives",
    "IGNORE_INDEX",
    "MaskedTokens",
    "MLMLoss",
    "mask_tokens",
]

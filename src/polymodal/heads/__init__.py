"""Task heads (Meta-Transformer's ``h``), one file each, registered in :data:`HEADS`."""

from polymodal.heads.base import HEADS, build_head, linear_or_mlp
from polymodal.heads.classification import ClassificationHead
from polymodal.heads.mlm import MLMHead
from polymodal.heads.patch_reconstruction import PatchReconstructionHead
from polymodal.heads.projection import ProjectionHead
from polymodal.heads.regression import RegressionHead

__all__ = [
    "HEADS",
    "build_head",
    "linear_or_mlp",
    "ClassificationHead",
    "RegressionHead",
    "ProjectionHead",
    "MLMHead",
    "PatchReconstructionHead",
]

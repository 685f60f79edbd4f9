"""The survey's cross-modal interaction strategies, one file each, behind one interface.

Importing this package registers every strategy in :data:`FUSIONS`; build one by name with
:func:`build_fusion`. See ``docs/fusion.md`` for the comparison.
"""

from polymodal.fusion.base import FUSIONS, Fusion, FusionConfig, FusionOutput, build_fusion
from polymodal.fusion.cross_attention import CrossAttentionConfig, CrossAttentionFusion
from polymodal.fusion.cross_to_concat import CrossToConcatConfig, CrossToConcatFusion
from polymodal.fusion.early_concat import EarlyConcatConfig, EarlyConcatFusion
from polymodal.fusion.early_sum import EarlySumConfig, EarlySumFusion
from polymodal.fusion.late import LateConfig, LateFusion
from polymodal.fusion.modality_dropout import ModalityDropout
from polymodal.fusion.modality_embedding import ModalityEmbedding
from polymodal.fusion.multi_to_one import MultiToOneConfig, MultiToOneFusion
from polymodal.fusion.one_to_multi import OneToMultiConfig, OneToMultiFusion

__all__ = [
    "FUSIONS",
    "Fusion",
    "FusionConfig",
    "FusionOutput",
    "build_fusion",
    "ModalityDropout",
    "ModalityEmbedding",
    "EarlySumConfig",
    "EarlySumFusion",
    "EarlyConcatConfig",
    "EarlyConcatFusion",
    "MultiToOneConfig",
    "MultiToOneFusion",
    "OneToMultiConfig",
    "OneToMultiFusion",
    "CrossAttentionConfig",
    "CrossAttentionFusion",
    "CrossToConcatConfig",
    "CrossToConcatFusion",
    "LateConfig",
    "LateFusion",
]

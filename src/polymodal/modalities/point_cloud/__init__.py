"""Point clouds: PLY/NPY/XYZ → unit sphere → FPS + kNN set abstraction → tokens."""

from polymodal.modalities.base import MODALITIES, Modality
from polymodal.modalities.point_cloud.augment import PointCloudAugment
from polymodal.modalities.point_cloud.grouping import PointGrouping, PointGroups, centre_counts, group_points
from polymodal.modalities.point_cloud.io import POINT_CLOUD_EXTENSIONS, PointCloud, read_ply, read_point_cloud
from polymodal.modalities.point_cloud.knn import knn_group
from polymodal.modalities.point_cloud.sampling import farthest_point_sample, gather_points
from polymodal.modalities.point_cloud.tokenizer import PointTokenizer, SetAbstraction
from polymodal.modalities.point_cloud.transform import (
    PointCloudBatch,
    PointCloudTransform,
    PointSample,
    collate_point_clouds,
    normalize_unit_sphere,
)

@MODALITIES.register("point_cloud")
class PointCloudModality(Modality):
    """PLY/NPY/XYZ points → FPS + kNN set abstraction (P/16 tokens)."""

    extensions = POINT_CLOUD_EXTENSIONS
    reads = (".npy", ".npz", ".txt")
    read = staticmethod(read_point_cloud)
    transform = PointCloudTransform
    collate = staticmethod(collate_point_clouds)
    default_tokenizer = "point_sa"
    augmentation = PointCloudAugment

    @classmethod
    def tokenizer_defaults(cls, transform: PointCloudTransform, tokenizer: str) -> dict:
        if tokenizer != "point_sa" or transform.feature_channels is None:
            return {}
        return {"feature_channels": transform.feature_channels}

__all__ = [
    "POINT_CLOUD_EXTENSIONS",
    "PointCloud",
    "PointCloudAugment",
    "PointCloudBatch",
    "PointCloudTransform",
    "PointGrouping",
    "PointGroups",
    "PointSample",
    "PointTokenizer",
    "SetAbstraction",
    "centre_counts",
    "collate_point_clouds",
    "farthest_point_sample",
    "gather_points",
    "group_points",
    "knn_group",
    "normalize_unit_sphere",
    "read_ply",
    "read_point_cloud",
]

"""Meta-Transformer's point tokenizer: two set-abstraction stages, FPS + kNN + shared MLP + max-pool.

Stage 1: ``P → P/4`` centres of width ``D/2``; stage 2: ``→ P/16`` centres of width ``D``.
Each stage samples centres by farthest point sampling, groups each centre's ``k`` nearest
points, embeds (relative xyz, features) with a shared MLP and max-pools over the group.
Positions come from the final centres' coordinates through a small MLP. Which centres and
which neighbours (:mod:`~polymodal.modalities.point_cloud.grouping`) depend on coordinates
alone: a batch collated with ``grouping=tokenizer.grouping`` brings them from the
data-loader workers; otherwise the tokenizer computes them, batched, on its device.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from polymodal.errors import InputError
from polymodal.modalities.base import TOKENIZERS, Tokenizer
from polymodal.modalities.point_cloud.grouping import PointGrouping, group_points
from polymodal.modalities.point_cloud.sampling import gather_points
from polymodal.modalities.point_cloud.transform import PointCloudBatch
from polymodal.tokens import Tokens

__all__ = ["PointTokenizer", "SetAbstraction"]


class SetAbstraction(nn.Module):
    """One stage's learnable part: embed each group with a shared MLP, max-pool over it.

    ``(xyz [B, P, 3], feats [B, P, C], centre index [B, S], neighbours [B, S, k])`` →
    ``(centres [B, S, 3], feats [B, S, out])``. No batch norm: its statistics would mix
    clouds and padding, and a cloud must give the same tokens alone as in a batch.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        hidden = max(out_channels // 2, 16)
        self.mlp = nn.Sequential(
            nn.Linear(3 + in_channels, hidden), nn.LayerNorm(hidden), nn.GELU(), nn.Linear(hidden, out_channels)
        )

    def forward(self, xyz: Tensor, feats: Tensor, index: Tensor, neighbours: Tensor) -> tuple[Tensor, Tensor]:
        centres = gather_points(xyz, index)  # [B, S, 3]
        grouped_xyz = gather_points(xyz, neighbours) - centres[:, :, None, :]  # [B, S, k, 3]
        grouped = torch.cat([grouped_xyz, gather_points(feats, neighbours)], dim=-1)  # [B, S, k, 3 + C]
        return centres, self.mlp(grouped).amax(dim=2)  # [B, S, out]


@TOKENIZERS.register("point_sa")
class PointTokenizer(Tokenizer):
    """Point cloud → ``ceil(ceil(P / 4) / 4)`` tokens (P/16) of width D.

    Args:
        dim: token width D (stage 1 works at D/2).
        feature_channels: c, per-point features after xyz (colour 3, normal 3, intensity 1).
        ratio: centres = ceil(points / ratio) per stage (4).
        k: neighbours per group (16 in stage 1; stage 2 uses the same).
        num_centres: fixed ``(S1, S2)`` centres instead of the ratio; a cloud with fewer
            points than S1 raises :class:`InputError`.

    Inputs: :class:`PointCloudBatch` ``points [B, P, 3 + c]``, ``lengths [B]`` and, when
    collated with ``grouping=tokenizer.grouping``, the centres and neighbours of both stages.

    Returns: Tokens ``[B, max S2, D]``; cloud i has ``S2_i`` real tokens.
    """

    modality = "point_cloud"

    def __init__(
        self,
        dim: int = 768,
        *,
        feature_channels: int = 0,
        ratio: int = 4,
        k: int = 16,
        num_centres: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        if dim % 2:
            raise InputError("dim", "an even width (stage 1 works at D/2)", dim)
        self.dim, self.feature_channels = dim, feature_channels
        self.grouping = PointGrouping(ratio, k, None if num_centres is None else tuple(num_centres))
        self.stage1 = SetAbstraction(feature_channels, dim // 2)
        self.stage2 = SetAbstraction(dim // 2, dim)
        self.pos_embed = nn.Sequential(nn.Linear(3, 128), nn.GELU(), nn.Linear(128, dim))

    def forward(self, batch: PointCloudBatch) -> Tokens:
        if not isinstance(batch, PointCloudBatch):
            raise InputError("batch", "a PointCloudBatch (collate_point_clouds)", type(batch).__name__)
        points = batch.points
        if points.ndim != 3 or points.shape[-1] != 3 + self.feature_channels:
            raise InputError("batch.points", f"[B, P, {3 + self.feature_channels}] (xyz + {self.feature_channels} features)", points)
        xyz, feats = points[..., :3], points[..., 3:]
        groups = batch.groups
        if groups is None:
            groups = group_points(xyz.detach(), batch.lengths, self.grouping)
        elif groups.grouping != self.grouping:
            raise InputError("batch.groups", f"groups made with this tokenizer's {self.grouping}", groups.grouping)
        index1, _, neighbours1 = groups.stage(1)
        index2, mask, neighbours2 = groups.stage(2)
        xyz, feats = self.stage1(xyz, feats, index1, neighbours1)
        xyz, feats = self.stage2(xyz, feats, index2, neighbours2)
        emb = feats + self.pos_embed(xyz)
        return Tokens(emb, mask, self.modality)

"""Meta-Transformer's point tokenizer: two set-abstraction stages, FPS + kNN + shared MLP + max-pool.

Stage 1: ``P → P/4`` centres of width ``D/2``; stage 2: ``→ P/16`` centres of width ``D``.
Each stage samples centres by farthest point sampling, groups each centre's ``k`` nearest
points, embeds (relative xyz, features) with a shared MLP and max-pools over the group.
Positions come from the final centres' coordinates through a small MLP. FPS and kNN run
here, on the batched tensors, because the centres of stage 2 depend on stage 1's output
shape only through the cloud sizes, and batching them on the device is fast.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from polymodal.errors import InputError
from polymodal.modalities.base import TOKENIZERS, Tokenizer
from polymodal.modalities.point_cloud.knn import knn_group
from polymodal.modalities.point_cloud.sampling import farthest_point_sample, gather_points
from polymodal.modalities.point_cloud.transform import PointCloudBatch
from polymodal.tokens import Tokens

__all__ = ["PointTokenizer", "SetAbstraction"]


class SetAbstraction(nn.Module):
    """One stage: ``(xyz [B, P, 3], feats [B, P, C], mask [B, P]) → (xyz [B, S, 3], feats [B, S, out], mask [B, S])``.

    No batch norm: its statistics would mix clouds and padding, and a cloud must give
    the same tokens alone as in a batch.
    """

    def __init__(self, in_channels: int, out_channels: int, *, ratio: int = 4, k: int = 16) -> None:
        super().__init__()
        self.ratio, self.k = ratio, k
        hidden = max(out_channels // 2, 16)
        self.mlp = nn.Sequential(
            nn.Linear(3 + in_channels, hidden), nn.LayerNorm(hidden), nn.GELU(), nn.Linear(hidden, out_channels)
        )

    def centres_for(self, lengths: Tensor) -> Tensor:
        return (lengths + self.ratio - 1) // self.ratio  # ceil(P_i / ratio), at least one

    def forward(self, xyz: Tensor, feats: Tensor, mask: Tensor, counts: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        with torch.no_grad():
            index, centre_mask = farthest_point_sample(xyz.detach(), counts, mask)  # [B, S]
            centres = gather_points(xyz, index)  # [B, S, 3]
            neighbours = knn_group(xyz.detach(), centres, self.k, mask)  # [B, S, k]
        grouped_xyz = gather_points(xyz, neighbours) - centres[:, :, None, :]  # [B, S, k, 3]
        grouped = torch.cat([grouped_xyz, gather_points(feats, neighbours)], dim=-1)  # [B, S, k, 3 + C]
        pooled = self.mlp(grouped).amax(dim=2)  # [B, S, out]
        return centres, pooled, centre_mask


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

    Inputs: :class:`PointCloudBatch` ``points [B, P, 3 + c]``, ``lengths [B]``.

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
        self.num_centres = None if num_centres is None else (int(num_centres[0]), int(num_centres[1]))
        self.stage1 = SetAbstraction(feature_channels, dim // 2, ratio=ratio, k=k)
        self.stage2 = SetAbstraction(dim // 2, dim, ratio=ratio, k=k)
        self.pos_embed = nn.Sequential(nn.Linear(3, 128), nn.GELU(), nn.Linear(128, dim))

    def forward(self, batch: PointCloudBatch) -> Tokens:
        if not isinstance(batch, PointCloudBatch):
            raise InputError("batch", "a PointCloudBatch (collate_point_clouds)", type(batch).__name__)
        points = batch.points
        if points.ndim != 3 or points.shape[-1] != 3 + self.feature_channels:
            raise InputError("batch.points", f"[B, P, {3 + self.feature_channels}] (xyz + {self.feature_channels} features)", points)
        mask = batch.mask
        lengths = batch.lengths.to(points.device)
        xyz, feats = points[..., :3], points[..., 3:]
        if self.num_centres is None:
            s1 = self.stage1.centres_for(lengths)
            s2 = self.stage2.centres_for(s1)
        else:
            if bool((lengths < self.num_centres[0]).any()):
                raise InputError("batch.points", f"clouds of at least {self.num_centres[0]} points (num_centres)", lengths.tolist())
            s1 = torch.full_like(lengths, self.num_centres[0])
            s2 = torch.full_like(lengths, min(self.num_centres))
        xyz, feats, mask = self.stage1(xyz, feats, mask, s1)
        xyz, feats, mask = self.stage2(xyz, feats, mask, s2)
        emb = feats + self.pos_embed(xyz)
        return Tokens(emb, mask, self.modality)

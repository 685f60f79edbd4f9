"""Weight initialisation shared by every transformer stack in polymodal."""

from __future__ import annotations

from torch import nn

__all__ = ["init_transformer_weights_"]


def init_transformer_weights_(root: nn.Module, std: float = 0.02) -> None:
    """Truncated-normal(``std``) weights and zero biases for every ``nn.Linear`` under ``root``,
    and LayerNorms reset to the identity (weight 1, bias 0), as ViT and BERT initialise."""
    for module in root.modules():
        if isinstance(module, nn.Linear):
            nn.init.trunc_normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm) and module.elementwise_affine:
            nn.init.ones_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

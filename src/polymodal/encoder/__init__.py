"""The shared, modality-agnostic transformer encoder and its parts."""

from polymodal.encoder.attention import Attention, KVCache, build_attention_mask
from polymodal.encoder.block import Block, Mlp
from polymodal.encoder.positions import (
    LearnedGridPositions,
    LearnedPositions,
    SinusoidalPositions,
    interpolate_positions,
    interpolate_positions_2d,
    sinusoidal_positions,
)
from polymodal.encoder.transformer import EncoderConfig, EncoderOutput, TransformerEncoder, masked_mean

__all__ = [
    "Attention",
    "KVCache",
    "build_attention_mask",
    "Block",
    "Mlp",
    "LearnedPositions",
    "LearnedGridPositions",
    "SinusoidalPositions",
    "interpolate_positions",
    "interpolate_positions_2d",
    "sinusoidal_positions",
    "EncoderConfig",
    "EncoderOutput",
    "TransformerEncoder",
    "masked_mean",
]

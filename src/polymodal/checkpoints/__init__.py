"""Weight files loaded safely (``io``) and converters from other codebases' checkpoints,
one file per source (Hugging Face BERT, ViT, CLIP, AST; Meta-Transformer)."""

from polymodal.checkpoints.io import LoadReport, apply_state_dict, find_weights, load_state_dict

__all__ = ["LoadReport", "apply_state_dict", "find_weights", "load_state_dict"]

"""``polymodal convert SRC DST``: Hugging Face folders → polymodal models.

:func:`from_huggingface` recognises the source by ``config.json``'s ``model_type`` (or
its ``architectures``), loads the weights safely, runs the matching pure converter from
:mod:`polymodal.checkpoints`, builds the model through the ``MODELS`` registry and loads
the converted weights strictly. Tokenizer files and preprocessing are read from the
same folder, so the converted model saved with ``save_pretrained`` is self-contained.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


from polymodal.checkpoints.huggingface import CONVERTERS
from polymodal._files import read_json
from polymodal.checkpoints.io import CONFIG_NAME, apply_state_dict, find_weights, load_state_dict
from polymodal.models.base import MODELS, PretrainedModel
from polymodal.errors import CheckpointError

__all__ = ["CONVERTERS", "from_huggingface", "add_parser", "run_convert"]



# Other JSON files a converter may need, relative to the folder.
SIDE_FILES = ("preprocessor_config.json", "1_Pooling/config.json", "modules.json", "sentence_bert_config.json")
# architectures[0] → model_type, for folders whose config lacks model_type.
ARCHITECTURES = {
    "BertModel": "bert",
    "ViTModel": "vit",
    "CLIPModel": "clip",
    "ASTModel": "audio-spectrogram-transformer",
    "ASTForAudioClassification": "audio-spectrogram-transformer",
}


def _side_files(directory: Path) -> dict[str, Any]:
    files = {}
    for name in SIDE_FILES:
        path = directory / name
        if path.is_file():
            files[name] = json.loads(path.read_text(encoding="utf-8"))
    return files


def _source_type(config: Mapping[str, Any], source: str) -> str:
    model_type = config.get("model_type")
    if not model_type:
        architectures = config.get("architectures") or []
        model_type = next((ARCHITECTURES[a] for a in architectures if a in ARCHITECTURES), None)
    if model_type not in CONVERTERS:
        raise CheckpointError(f"{source}: model_type", f"one of {', '.join(CONVERTERS.names())}", repr(model_type))
    return model_type


def from_huggingface(directory: str | Path, *, strict: bool = True) -> PretrainedModel:
    """Convert a Hugging Face model folder (config.json + weights) into a polymodal model (eval mode)."""
    directory = Path(directory)
    config = read_json(directory / CONFIG_NAME)
    converter = CONVERTERS.get(_source_type(config, str(directory)))
    state, ours = converter(load_state_dict(find_weights(directory)), config, _side_files(directory))
    cls = MODELS.get(ours.pop("model_type"))
    model = cls.from_config(ours, directory)
    apply_state_dict(model, state, strict=strict, source=f"converted {directory}")
    return model.eval()


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``convert SRC DST`` to a CLI's subparsers; ``args.func`` is :func:`run_convert`."""
    parser = subparsers.add_parser("convert", help="convert a Hugging Face model folder into a polymodal model")
    parser.add_argument("src", type=Path, help="Hugging Face folder (config.json + model.safetensors or pytorch_model.bin)")
    parser.add_argument("dst", type=Path, help="output polymodal model directory")
    parser.set_defaults(func=run_convert)  # cli.main calls args.func(args)
    return parser


def run_convert(args: argparse.Namespace) -> int:
    model = from_huggingface(args.src)
    model.save_pretrained(args.dst)
    params = sum(p.numel() for p in model.parameters())
    print(f"converted {args.src} ({model.model_type}, {params / 1e6:.1f} M parameters) -> {args.dst}")
    return 0

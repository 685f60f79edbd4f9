"""Contract over every tokenizer this package registers: tiny configs, batch sizes 1 and 2,
the Tokens contract, no NaN, a gradient for every parameter (timm's test_models, in small)."""

import networkx as nx
import numpy as np
import pytest
import torch

from polymodal.modalities import MODALITIES, TOKENIZERS
from polymodal.modalities.audio import AudioTransform
from polymodal.modalities.graph import GraphTransform
from polymodal.modalities.multichannel import MultichannelTransform
from polymodal.modalities.point_cloud import PointCloudTransform
from polymodal.modalities.tabular import TabularTransform
from polymodal.modalities.time_series import TimeSeriesTransform
from polymodal.modalities.video import VideoTransform
from polymodal.tokens import Tokens

RNG = np.random.default_rng(0)
TABULAR = TabularTransform.fit([{"a": 1.0, "c": "x"}, {"a": 2.0, "c": "y"}], numeric=["a"], categorical=["c"])

# name -> (modality, tokenizer options, raw samples of different sizes, transform)
CASES = {
    "audio_patch": ("audio", {}, [RNG.standard_normal(n).astype(np.float32) * 0.1 for n in (4000, 9000)], AudioTransform()),
    "audio_conv": ("audio", {"max_tokens": 16}, [RNG.standard_normal(n).astype(np.float32) * 0.1 for n in (4000, 9000)], AudioTransform()),
    "image_conv_rows": ("image", {}, None, None),
    "tubelet": ("video", {"num_frames": 4, "image_size": (32, 32)}, [RNG.random((n, 32, 32, 3)).astype(np.float32) for n in (3, 4)], VideoTransform(size=(32, 32), num_frames=4)),
    "point_sa": ("point_cloud", {"k": 4}, [RNG.random((n, 3)) for n in (40, 70)], PointCloudTransform()),
    "patch_tst": ("time_series", {"channels": 2}, [RNG.standard_normal((2, n)) for n in (20, 50)], TimeSeriesTransform()),
    "ft_tokenizer": ("tabular", {"num_numeric": 1, "cardinalities": TABULAR.cardinalities}, [{"a": 3.0, "c": "x"}, {"a": None, "c": "z"}], TABULAR),
    "graphormer": ("graph", {"num_heads": 2}, [nx.path_graph(4), nx.cycle_graph(6)], GraphTransform()),
    "mc_patch": ("multichannel", {"in_channels": 7, "patch_size": 8, "image_size": 16}, [RNG.random((7, 16, 16)) for _ in range(2)], MultichannelTransform(channels=7)),
    "spectral_patch": ("multichannel", {"in_channels": 7, "band_group": 3, "patch_size": 8, "image_size": 16}, [RNG.random((7, 16, 16)) for _ in range(2)], MultichannelTransform(channels=7)),
}


def ours(name: str) -> bool:
    return TOKENIZERS.get(name).__module__.startswith(
        tuple(f"polymodal.modalities.{m}" for m in ("audio", "image_stem", "video", "point_cloud", "time_series", "tabular", "graph", "multichannel"))
    )


def test_every_tokenizer_of_this_package_has_a_case():
    assert sorted(n for n in TOKENIZERS.names() if ours(n)) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("batch_size", [1, 2])
def test_tokenizer_contract(name, batch_size):
    modality, options, raw, transform = CASES[name]
    tok = TOKENIZERS.get(name)(dim=16, **options)
    assert tok.modality == modality and tok.dim == 16
    if raw is None:
        batch = torch.rand(batch_size, 1, 8, 8)
    else:
        batch = MODALITIES.get(modality).collate([transform(r) for r in raw[:batch_size]])
    tokens = tok(batch)
    assert isinstance(tokens, Tokens) and tokens.modality == modality
    assert tokens.embeddings.shape[0] == batch_size and tokens.embeddings.shape[2] == 16
    assert torch.isfinite(tokens.embeddings).all() and tokens.present.all()
    loss = (tokens.embeddings * tokens.mask[..., None]).sum()
    if tokens.attention_bias is not None:
        loss = loss + tokens.attention_bias.sum()
    loss.backward()
    missing = [n for n, p in tok.named_parameters() if p.grad is None]
    assert not missing, missing


@pytest.mark.parametrize("name", sorted(n for n in CASES if CASES[n][3] is not None))
def test_transforms_pickle_and_rebuild_from_config(name):
    import json
    import pickle

    _, _, raw, transform = CASES[name]
    config = json.loads(json.dumps(transform.config().model_dump(mode="json")))  # JSON-able, as saved with the weights
    rebuilt = type(transform).from_config(config)
    clone = pickle.loads(pickle.dumps(transform))
    expected = tensors_of(transform(raw[0]))
    assert expected
    for other in (rebuilt, clone):
        for want, got in zip(expected, tensors_of(other(raw[0])), strict=True):
            torch.testing.assert_close(got, want)


def tensors_of(sample) -> list[torch.Tensor]:
    if isinstance(sample, torch.Tensor):
        return [sample]
    return [v for v in vars(sample).values() if isinstance(v, torch.Tensor)]

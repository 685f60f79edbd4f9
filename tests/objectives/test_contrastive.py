import math

import pytest
import torch
import torch.nn.functional as F

from polymodal.errors import ConfigError, InputError
from polymodal.objectives import OBJECTIVES, InfoNCELoss, build_objective, info_nce


def test_registered() -> None:
    assert OBJECTIVES.get("infonce") is InfoNCELoss
    loss = build_objective("infonce", pairs="anchor", anchor="image")
    assert isinstance(loss, InfoNCELoss) and loss.anchor == "image"
    with pytest.raises(ConfigError, match="temperature"):
        build_objective("infonce", temperature=0.1)


def test_hand_computed_value() -> None:
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    # logits = a @ b.T = [[0.6, 0], [0.8, 1]] at scale 1; each row's CE is log(1 + e^(other - own)).
    image_to_text = (math.log(1 + math.exp(-0.6)) + math.log(1 + math.exp(-0.2))) / 2
    text_to_image = (math.log(1 + math.exp(0.2)) + math.log(1 + math.exp(-1.0))) / 2
    expected = (image_to_text + text_to_image) / 2
    out = InfoNCELoss()({"image": a, "text": b}, logit_scale=torch.tensor(0.0))
    assert out.loss.item() == pytest.approx(expected, abs=1e-6)
    assert out.terms["image-text"].item() == pytest.approx(expected, abs=1e-6)
    assert torch.allclose(out.logits["image-text"], torch.tensor([[0.6, 0.0], [0.8, 1.0]]))
    assert out.metrics["acc/image->text"].item() == 1.0
    assert out.metrics["acc/text->image"].item() == 0.5  # column 0's best row is row 1 (0.8 > 0.6)


def test_temperature_init_and_clamp() -> None:
    loss = InfoNCELoss()
    assert loss.logit_scale.item() == pytest.approx(math.log(1 / 0.07))
    assert loss.scale().item() == pytest.approx(1 / 0.07, rel=1e-5)
    with torch.no_grad():
        loss.logit_scale.fill_(10.0)
    assert loss.scale().item() == pytest.approx(100.0, rel=1e-5)


def test_minimum_at_perfect_alignment() -> None:
    a = torch.eye(8)
    loss = InfoNCELoss()
    aligned = loss({"image": a, "text": a.clone()}, logit_scale=torch.tensor(math.log(100.0)))
    shuffled = loss({"image": a, "text": a.roll(1, dims=0)}, logit_scale=torch.tensor(math.log(100.0)))
    assert aligned.loss.item() < 1e-6  # the lower bound 0
    assert shuffled.loss.item() > 50
    # Optimising free text embeddings against fixed image embeddings aligns them.
    text = torch.randn(8, 8, requires_grad=True)
    opt = torch.optim.Adam([text], lr=0.2)
    for _ in range(100):
        opt.zero_grad()
        out = loss({"image": a, "text": text})
        out.loss.backward()
        opt.step()
    cos = F.normalize(text.detach(), dim=-1) @ a.T
    assert torch.equal(cos.argmax(1), torch.arange(8))
    assert out.loss.item() < 0.05


def test_matches_functional_and_learns_scale() -> None:
    a, b = torch.randn(5, 4), torch.randn(5, 4)
    loss = InfoNCELoss()
    out = loss({"text": b, "image": a})
    ref, _ = info_nce(F.normalize(a, dim=-1), F.normalize(b, dim=-1), 1 / 0.07)
    assert torch.allclose(out.loss, ref, atol=1e-5)
    out.loss.backward()
    assert loss.logit_scale.grad is not None


def test_many_modalities_all_pairs_and_anchor_with_weights() -> None:
    feats = {m: torch.randn(6, 4) for m in ("image", "text", "audio")}
    unit = {m: F.normalize(x, dim=-1) for m, x in feats.items()}
    s = 1 / 0.07

    def pair(a: str, b: str) -> torch.Tensor:
        return info_nce(unit[a], unit[b], s)[0]

    out = InfoNCELoss()(feats)
    assert set(out.terms) == {"audio-image", "audio-text", "image-text"}
    assert torch.allclose(out.loss, pair("audio", "image") + pair("audio", "text") + pair("image", "text"), atol=1e-5)

    anchored = InfoNCELoss(pairs="anchor", anchor="image", weights={"audio-image": 0.5})(feats)
    assert set(anchored.terms) == {"image-audio", "image-text"}
    assert torch.allclose(anchored.loss, 0.5 * pair("image", "audio") + pair("image", "text"), atol=1e-5)


def test_errors() -> None:
    with pytest.raises(ConfigError):
        InfoNCELoss(pairs="anchor")
    with pytest.raises(InputError):
        InfoNCELoss()({"image": torch.randn(3, 4)})
    with pytest.raises(InputError):
        InfoNCELoss()({"image": torch.randn(3, 4), "text": torch.randn(2, 4)})
    with pytest.raises(InputError):
        InfoNCELoss(pairs="anchor", anchor="video")({"image": torch.randn(3, 4), "text": torch.randn(3, 4)})

"""The example plugin's parts, in-process: the .spec reader, transform, collate, tokenizer and
gated late fusion (its package imported from examples/plugin/src, not installed)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from polymodal.errors import ConfigError, InputError
from polymodal.fusion import FUSIONS, build_fusion
from polymodal.tokens import Tokens

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "plugin" / "src"))
from polymodal_example_plugin.gated_fusion import GatedLateFusion  # noqa: E402
from polymodal_example_plugin.spectrum import (  # noqa: E402
    BandTokenizer,
    SpectrumBatch,
    SpectrumTransform,
    collate_spectra,
    read_spectrum,
    write_spectrum,
)
from polymodal_example_plugin.synthetic import fabric_spectrum  # noqa: E402

sys.path.pop(0)


def test_spec_files_round_trip_and_bad_files_name_the_line(tmp_path):
    w, v = fabric_spectrum("wool", np.random.default_rng(0))
    spectrum = read_spectrum(write_spectrum(tmp_path / "a.spec", w, v, unit="nm"))
    np.testing.assert_array_equal(spectrum.wavelengths, w)
    np.testing.assert_array_equal(spectrum.intensities, v)
    assert spectrum.metadata == {"unit": "nm"}
    bad = {
        "# only a comment\n": "a 'wavelength,intensity' header line",
        "wavelength,intensity\n900,1\n": "at least two",
        "wavelength,intensity\n900,1\n901,x\n": "a.spec:3: expected two numbers",
        "wavelength,intensity\n900,1\n899,1\n": "a.spec:3: expected wavelengths strictly increasing",
        "wavelength,intensity\n900,1\n901,nan\n": "a.spec:3: expected finite numbers",
        "x,y\n900,1\n": "a.spec:1: expected the header",
    }
    for text, message in bad.items():
        (tmp_path / "a.spec").write_text(text)
        with pytest.raises(InputError, match=message):
            read_spectrum(tmp_path / "a.spec")


def test_transform_resamples_differentiates_and_normalises():
    w = np.linspace(800, 1800, 501)
    slope = 0.5 + 0.001 * w  # a baseline; its first derivative is constant
    t = SpectrumTransform(900, 1700, 65, derivative=0, normalize="none")
    from polymodal_example_plugin.spectrum import Spectrum

    np.testing.assert_allclose(t(Spectrum(w, slope)).numpy(), 0.5 + 0.001 * t.grid, rtol=1e-6)
    d1 = SpectrumTransform(900, 1700, 65, derivative=1, normalize="none")(Spectrum(w, slope)).numpy()
    np.testing.assert_allclose(d1, 0.001, rtol=1e-4)
    snv = SpectrumTransform(900, 1700, 65)(Spectrum(w, 3.0 * np.sin(w / 50.0) + 7.0)).numpy()
    assert abs(snv.mean()) < 1e-5 and abs(snv.std() - 1) < 1e-4  # scale and offset removed
    with pytest.raises(InputError, match="wavelengths covering 900–1700, got 950–1800"):
        t(Spectrum(np.linspace(950, 1800, 10), np.ones(10)))
    with pytest.raises(ConfigError, match="spectrum.derivative"):
        SpectrumTransform(derivative=3)


def test_band_tokenizer_tokens_contract_and_gradients():
    tok = BandTokenizer(16, points=64, band=8)
    batch = collate_spectra([torch.randn(64), torch.randn(64)])
    out = tok(batch)
    assert isinstance(out, Tokens) and out.embeddings.shape == (2, 8, 16) and out.mask.all() and out.modality == "spectrum"
    out.embeddings.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in tok.parameters())
    # A band's token depends on its own points only (before the encoder mixes them).
    values = batch.values.clone()
    values[0, :8] += 1.0
    changed = (tok(SpectrumBatch(values)).embeddings - out.embeddings).abs().sum(-1)[0]
    assert changed[0] > 0 and torch.all(changed[1:] == 0)
    with pytest.raises(InputError, match="spectra on one grid"):
        collate_spectra([torch.randn(64), torch.randn(32)])
    with pytest.raises(ConfigError, match="a divisor of points=64"):
        BandTokenizer(16, points=64, band=7)


@pytest.fixture
def gated():
    FUSIONS.register("gated_late")(GatedLateFusion)  # as its entry point would in an installed plugin
    yield lambda **kw: build_fusion("gated_late", {"modalities": ["a", "b"], "dim": 16, "num_heads": 2, **kw}).eval()
    FUSIONS.unregister("gated_late")


def _tokens(name: str, lengths: list[int]) -> Tokens:
    n = max(lengths)
    return Tokens(torch.randn(len(lengths), n, 16), torch.arange(n)[None] < torch.tensor(lengths)[:, None], name)


def test_gated_late_fusion_tolerates_a_missing_modality(gated):
    fusion = gated(gate_dim=8)
    a, b = _tokens("a", [5, 3]), _tokens("b", [4, 2])
    alone = fusion({"a": a})
    hidden = b.replace(mask=b.mask & torch.tensor([[False], [True]]))  # b missing for sample 0
    mixed = fusion({"a": a, "b": hidden})
    torch.testing.assert_close(mixed.pooled[0], alone.pooled[0])  # the gate gives b weight 0
    assert not torch.allclose(mixed.pooled[1], alone.pooled[1])
    none = fusion({"a": a.replace(mask=torch.zeros_like(a.mask))})
    assert torch.equal(none.pooled, torch.zeros(2, 16))  # no modality at all: zeros, no NaN
    # The pooled vector is a convex mix of the encoders' pooled vectors.
    out = fusion({"a": a, "b": b}, output_attentions=True)
    pooled = torch.stack([fusion.encoders[m](t).pooled for m, t in (("a", a), ("b", b))], dim=1)
    weights = fusion.gates([("a", pooled[:, 0]), ("b", pooled[:, 1])], torch.ones(2, 2, dtype=torch.bool))
    torch.testing.assert_close(weights.sum(1), torch.ones(2))
    torch.testing.assert_close(out.pooled, (weights[..., None] * pooled).sum(1))
    assert set(out.attentions) == {"a", "b"} and out.sequence is None


def test_gated_late_fusion_gradients_reach_every_parameter(gated):
    fusion = gated().train()
    out = fusion({"a": _tokens("a", [5, 3]), "b": _tokens("b", [4, 2])})
    out.pooled.pow(2).sum().backward()
    missing = [n for n, p in fusion.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing
    with pytest.raises(ConfigError, match="fusion.gated_late.depth"):
        gated(depth=0)

import numpy as np
import pytest
import torch
from modality_checks import check_encoder_gradients, check_padding_invariance, check_tokens

from polymodal.errors import InputError
from polymodal.modalities import MODALITIES, TOKENIZERS
from polymodal.modalities.time_series import (
    TimeSeriesTransform,
    collate_time_series,
    read_time_series,
    read_ts,
)

TS_TEXT = """# a small multivariate, unequal-length problem
@problemName tiny
@timeStamps false
@missing true
@univariate false
@dimensions 2
@equalLength false
@classLabel true walk run
@data
1.0,2.0,3.0,4.0,5.0,6.0,7.0,8.0,9.0,10.0:0.5,0.4,0.3,0.2,0.1,0.0,-0.1,-0.2,-0.3,-0.4:walk
2.0,?,4.0,5.0,6.0,7.0:1.0,1.0,2.0,2.0,3.0,3.0:run
3.0,1.0,4.0,1.0,5.0,9.0,2.0,6.0,5.0,3.0,5.0,8.0,9.0,7.0,9.0,3.0,2.0,3.0,8.0,4.0:1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20:walk
"""


def test_ts_parser_matches_aeon(tmp_path):
    path = tmp_path / "tiny.ts"
    path.write_text(TS_TEXT)
    parsed = read_ts(path)
    assert parsed.labels == ["walk", "run", "walk"]
    assert [s.values.shape for s in parsed.series] == [(2, 10), (2, 6), (2, 20)]
    assert np.isnan(parsed.series[1].values[0, 1])
    datasets = pytest.importorskip("aeon.datasets")
    x, y = datasets.load_from_ts_file(str(path))
    assert list(y) == parsed.labels
    for ours, theirs in zip(parsed.series, x, strict=True):
        np.testing.assert_allclose(ours.values, np.asarray(theirs, dtype=np.float64), equal_nan=True)


def test_csv_and_ts_to_encoder(tmp_path):
    t = np.linspace(0, 6, 50)
    table = np.stack([np.sin(t), np.cos(t), t], axis=1)
    with open(tmp_path / "imu.csv", "w") as f:
        f.write("ax,ay,az\n")
        for row in table:
            f.write(",".join(f"{v:.6f}" for v in row) + "\n")
    np.save(tmp_path / "b.npy", np.random.default_rng(0).standard_normal((3, 23)))
    spec = MODALITIES.get("time_series")
    csv = read_time_series(tmp_path / "imu.csv")
    assert csv.channels == ("ax", "ay", "az") and csv.values.shape == (3, 50)
    transform = spec.transform(channels=3)
    samples = [transform(csv), transform(read_time_series(tmp_path / "b.npy"))]
    assert abs(float(samples[0].values.mean(1).abs().max())) < 1e-5  # instance normalisation
    batch = spec.collate(samples)
    for mode, length, real in (("independent", 3 * 6, [18, 6]), ("mixing", 6, [6, 2])):
        tok = TOKENIZERS.get("patch_tst")(dim=32, channels=3, patch_len=16, stride=8, channel_mode=mode)
        tokens = tok(batch)
        # N(L) = 1 + ceil((L - 16) / 8): 6 patches for 50 steps, 2 for 23.
        check_tokens(tokens, 2, length, 32, "time_series")
        assert tokens.mask.sum(1).tolist() == real
        check_encoder_gradients(tok, batch)
    (tmp_path / "t.ts").write_text(TS_TEXT)
    ts = read_ts(tmp_path / "t.ts")
    fill = TimeSeriesTransform(channels=2, missing="interpolate")
    tokens = TOKENIZERS.get("patch_tst")(dim=16, channels=2, patch_len=4, stride=2)(collate_time_series([fill(s) for s in ts.series]))
    assert tokens.mask.sum(1).tolist() == [2 * 4, 2 * 2, 2 * 9]


@pytest.mark.parametrize("mode", ["independent", "mixing"])
def test_series_of_different_lengths_padding_invariant(mode):
    rng = np.random.default_rng(3)
    transform = TimeSeriesTransform(channels=2)
    samples = [transform(rng.standard_normal((2, n))) for n in (40, 17, 9, 33)]
    tok = TOKENIZERS.get("patch_tst")(dim=32, channels=2, patch_len=8, stride=4, channel_mode=mode)
    check_padding_invariance(tok, collate_time_series, samples)


def test_bad_series(tmp_path):
    with pytest.raises(InputError, match="channels"):
        TimeSeriesTransform(channels=3)(np.zeros((2, 10)))
    bad = np.ones((1, 10))
    bad[0, 3] = np.inf
    with pytest.raises(InputError, match="finite"):
        TimeSeriesTransform(missing="interpolate")(bad)
    bad[0, 3] = np.nan
    with pytest.raises(InputError, match="finite"):
        TimeSeriesTransform()(bad)
    (tmp_path / "bad.csv").write_text("1,2,3\n4,5\n")
    with pytest.raises(InputError, match="bad.csv"):
        read_time_series(tmp_path / "bad.csv")
    (tmp_path / "bad.ts").write_text("@problemName x\n@classLabel false\n@data\n1,2,abc\n")
    with pytest.raises(InputError, match="bad.ts:4"):
        read_ts(tmp_path / "bad.ts")
    (tmp_path / "nodata.ts").write_text("@problemName x\n")
    with pytest.raises(InputError, match="nodata.ts"):
        read_ts(tmp_path / "nodata.ts")
    tok = TOKENIZERS.get("patch_tst")(dim=16, channels=2)
    with pytest.raises(InputError, match="2 channels"):
        tok(collate_time_series([TimeSeriesTransform()(np.zeros((3, 20)))]))

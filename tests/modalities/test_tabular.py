import pytest
import torch
from modality_checks import check_encoder_gradients, check_tokens

from polymodal.errors import ConfigError, InputError
from polymodal.modalities import MODALITIES, TOKENIZERS, modality_for_file
from polymodal.modalities.tabular import TabularTransform, collate_tabular, read_row, read_table

CSV = """age,income,city,plan
34,52000,paris,basic
,61000,lyon,premium
45,NA,paris,
29,38000,nice,basic
"""


def test_csv_rows_to_encoder(tmp_path):
    (tmp_path / "train.csv").write_text(CSV)
    spec = modality_for_file(tmp_path / "train.csv")
    assert spec is MODALITIES.get("tabular")
    rows = read_table(tmp_path / "train.csv")
    transform = TabularTransform.fit(rows, numeric=["age", "income"], categorical=["city", "plan"])
    assert transform.categories == {"city": ["lyon", "nice", "paris"], "plan": ["basic", "premium"]}
    assert transform.mean[0] == pytest.approx((34 + 45 + 29) / 3)
    # The fitted statistics round-trip through config().
    again = TabularTransform.from_config(transform.config())
    batch = spec.collate([again(r) for r in rows] + [again({"age": 50, "income": 1, "city": "brest", "plan": "basic"})])
    assert batch.missing.tolist() == [[False, False], [True, False], [False, True], [False, False], [False, False]]
    assert batch.categorical[:, 0].tolist() == [4, 2, 4, 3, 1]  # brest is unseen: id 1
    assert batch.categorical[2, 1] == 0  # missing plan: id 0
    tok = TOKENIZERS.get(spec.default_tokenizer)(dim=32, num_numeric=2, cardinalities=transform.cardinalities)
    tokens = tok(batch)
    check_tokens(tokens, 5, 4, 32, "tabular")
    assert tokens.mask.all() and torch.isfinite(tokens.embeddings).all()
    torch.testing.assert_close(tokens.embeddings[1, 0], tok.missing_token[0] + tok.bias[0])
    check_encoder_gradients(tok, batch)


def test_parquet_reader(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"x": [1.0, None, 3.0], "c": ["a", "b", None]})
    pq.write_table(table, tmp_path / "t.parquet")
    rows = read_table(tmp_path / "t.parquet", columns=["x", "c"])
    transform = TabularTransform.fit(rows, numeric=["x"], categorical=["c"])
    batch = collate_tabular([transform(r) for r in rows])
    assert batch.missing[:, 0].tolist() == [False, True, False]
    assert batch.categorical[:, 0].tolist() == [2, 3, 0]


def test_schema_mismatch_and_bad_values(tmp_path):
    (tmp_path / "t.csv").write_text(CSV)
    with pytest.raises(InputError, match="t.csv"):
        read_table(tmp_path / "t.csv", columns=["age", "height"])
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3\n")
    with pytest.raises(InputError, match="ragged.csv:3"):
        read_table(tmp_path / "ragged.csv")
    rows = read_table(tmp_path / "t.csv")
    transform = TabularTransform.fit(rows, numeric=["age"], categorical=["city"])
    with pytest.raises(InputError, match="missing \\['age'\\]"):
        transform({"city": "paris"})
    with pytest.raises(InputError, match="'age'"):
        transform({"age": "old", "city": "paris"})
    with pytest.raises(InputError, match="'age'"):
        transform({"age": float("inf"), "city": "paris"})
    with pytest.raises(InputError, match="fitted"):
        TabularTransform(numeric=["age"])


def test_a_sample_is_a_file_holding_one_row(tmp_path):
    """The modality's reader gives one row (a mapping), which is what the transform takes;
    a table of many rows is refused with the layout to use instead."""
    (tmp_path / "table.csv").write_text(CSV)
    (tmp_path / "row.csv").write_text("age,income,city,plan\n34,52000,paris,basic\n")
    spec = MODALITIES.get("tabular")
    assert spec.read is read_row
    row = spec.read(tmp_path / "row.csv")
    assert row == {"age": "34", "income": "52000", "city": "paris", "plan": "basic"}
    transform = TabularTransform.fit(read_table(tmp_path / "table.csv"), numeric=["age", "income"], categorical=["city", "plan"])
    assert transform(row).categorical.tolist() == [4, 2]
    with pytest.raises(InputError, match="one row.*got 4 rows"):
        spec.read(tmp_path / "table.csv")


def test_the_modality_fits_its_transform_on_training_rows(tmp_path):
    (tmp_path / "table.csv").write_text(CSV)
    rows = read_table(tmp_path / "table.csv")
    spec = MODALITIES.get("tabular")
    calls = []

    def fit_on():
        calls.append(1)
        return rows

    # No column lists: the schema is inferred (numbers → numeric, the rest categorical).
    inferred = spec.build_transform({}, fit_on)
    assert (inferred.numeric, inferred.categorical) == (["age", "income"], ["city", "plan"]) and calls == [1]
    assert inferred.std[1] == pytest.approx(float(torch.tensor([52000.0, 61000, 38000]).std(unbiased=False)))
    chosen = spec.build_transform({"numeric": ["age"], "categorical": ["plan"]}, fit_on)
    assert chosen.numeric == ["age"] and chosen.categories == {"plan": ["basic", "premium"]}
    # Fitted statistics build as they are, without reading the training rows; the config round-trips.
    again = spec.build_transform(chosen.config(), None)
    assert again.config() == chosen.config() and len(calls) == 2
    with pytest.raises(ConfigError, match="training rows to fit them on"):
        spec.build_transform({"numeric": ["age"]}, None)
    with pytest.raises(ConfigError, match="only \\['mean'\\]"):
        spec.build_transform({"numeric": ["age"], "mean": [1.0]}, fit_on)
    with pytest.raises(ConfigError, match="unknown options"):
        spec.build_transform({"numerics": ["age"]}, fit_on)

"""The seven fusion strategies trained on one real two-modality task, with and without modality dropout.

Task: scikit-learn's handwritten digits (1,797 8×8 images, 10 classes, UCI). Two "sensors"
each see a disjoint half of every digit, with different token layouts:

* modality ``top``: the upper four pixel rows, as 4 row tokens of 8 pixels;
* modality ``bottom``: the lower four rows, read as 8 column tokens of 4 pixels (a column
  profile of the lower half).

It is an honest stand-in, not two physical modalities: both views come from one image, but
they are disjoint, each is only partly informative, and they differ in sequence length
and token width, so the strategies must combine complementary evidence (a 7 and a 9
share their top halves; a 3 and a 9 share their bottoms). Each strategy runs at D=32, 4 heads,
a budget of 2 layers (as in benchmarks/fusion.py), with per-modality linear tokenizers plus
learned positions and a linear head, trained with Adam on a fixed stratified 70/30 split.
Accuracy is measured on the test split with both halves, with ``bottom`` absent and with
``top`` absent, for a model trained without and with ModalityDropout(p).

    .venv/bin/python benchmarks/fusion_compare.py [--quick] [--json FILE] [--epochs E] [--p P]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from polymodal.fusion import FUSIONS, ModalityDropout, build_fusion  # noqa: E402
from polymodal.models.fusion_model import FusionClassifier  # noqa: E402
from polymodal.tokens import Tokens  # noqa: E402

STRATEGIES = ["early_sum", "early_concat", "multi_to_one", "one_to_multi", "cross_attention", "cross_to_concat", "late"]
DEPTHS = {
    "early_sum": {"depth": 2},
    "early_concat": {"depth": 2},
    "multi_to_one": {"modality_depth": 1, "shared_depth": 1},
    "one_to_multi": {"shared_depth": 1, "modality_depth": 1},
    "cross_attention": {"depth": 2},
    "cross_to_concat": {"cross_depth": 1, "shared_depth": 1},
    "late": {"depth": 2},
}
DIM, HEADS = 32, 4


def load_views(seed: int = 0) -> dict[str, dict[str, torch.Tensor]]:
    """Train/test tensors: ``top [S, 4, 8]``, ``bottom [S, 8, 4]``, ``label [S]``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32) / 16.0  # [S, 8, 8], pixel values 0..16
    labels = torch.tensor(digits.target)
    top = images[:, :4, :]  # 4 row tokens × 8 pixels
    bottom = images[:, 4:, :].transpose(1, 2).contiguous()  # 8 column tokens × 4 pixels
    idx = torch.arange(len(labels))
    train_idx, test_idx = train_test_split(idx.numpy(), test_size=0.3, random_state=seed, stratify=labels.numpy())
    split = lambda i: {"top": top[i], "bottom": bottom[i], "label": labels[i]}  # noqa: E731
    return {"train": split(torch.as_tensor(train_idx)), "test": split(torch.as_tensor(test_idx))}


class ViewTokenizer(nn.Module):
    """``[B, N, F]`` pixel tokens → Tokens ``[B, N, D]``: a linear map plus learned positions."""

    def __init__(self, length: int, features: int, dim: int, modality: str) -> None:
        super().__init__()
        self.proj = nn.Linear(features, dim)
        self.pos = nn.Parameter(torch.randn(1, length, dim) * 0.02)
        self.modality = modality

    def forward(self, x: torch.Tensor) -> Tokens:
        return Tokens.dense(self.proj(x) + self.pos, self.modality)


def build_model(strategy: str, p: float) -> FusionClassifier:
    fusion = build_fusion(
        strategy, {"modalities": ["bottom", "top"], "dim": DIM, "num_heads": HEADS, "mlp_ratio": 2.0, **DEPTHS[strategy]}
    )
    tokenizers = {"top": ViewTokenizer(4, 8, DIM, "top"), "bottom": ViewTokenizer(8, 4, DIM, "bottom")}
    return FusionClassifier(tokenizers, fusion, nn.Linear(DIM, 10), modality_dropout=ModalityDropout(p) if p > 0 else None)


def train(
    model: FusionClassifier,
    data: dict,
    epochs: int,
    seed: int,
    modalities: tuple[str, ...] = ("bottom", "top"),
    batch_size: int = 64,
    lr: float = 3e-3,
) -> None:
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    n = len(data["label"])
    steps = epochs * ((n + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n, generator=g)
        for start in range(0, n, batch_size):
            i = order[start : start + batch_size]
            logits = model({m: data[m][i] for m in modalities}).logits
            loss = nn.functional.cross_entropy(logits, data["label"][i])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()


@torch.no_grad()
def accuracy(model: FusionClassifier, data: dict, modalities: tuple[str, ...]) -> float:
    model.eval()
    logits = model({m: data[m] for m in modalities}).logits
    return (logits.argmax(-1) == data["label"]).float().mean().item()


def plot_attention(model: FusionClassifier, data: dict, folder: Path) -> list[Path]:
    """PNGs of a trained model's attention on the first test digit (cross maps, or a rollout)."""
    from polymodal.evaluation.attention import attention_rollout, plot_cross_attention

    model.eval()
    with torch.no_grad():
        out = model({m: data[m][:1] for m in ("bottom", "top")}, output_attentions=True).fusion
    name = model.fusion.__class__.__name__
    written = []
    rows = [f"top row {i}" for i in range(4)]
    cols = [f"bottom col {j}" for j in range(8)]
    if "cross:top" in out.attentions:
        written.append(plot_cross_attention(
            out.attentions["cross:top"][-1], folder / f"{name}_top_to_bottom.png", query_labels=rows,
            key_labels=cols, title=f"{name}: top-half rows attend to bottom-half columns (digit {int(data['label'][0])})",
        ))
    for stage in ("fused", "shared"):
        if stage in out.attentions:
            rolled = attention_rollout(out.attentions[stage])
            labels = cols + rows if out.sequence.length == 12 else None  # concatenation order: bottom, top
            written.append(plot_cross_attention(
                rolled, folder / f"{name}_{stage}_rollout.png", query_labels=labels, key_labels=labels,
                title=f"{name}: attention rollout of the {stage} stream",
            ))
    return written


def run_comparison(
    strategies: list[str] = STRATEGIES,
    *,
    epochs: int = 30,
    p: float = 0.5,
    seed: int = 0,
    plot_dir: Path | None = None,
) -> list[dict]:
    """Train each strategy twice (no modality dropout; ModalityDropout(p)) and evaluate three ways."""
    data = load_views(seed)
    rows = []
    for strategy in strategies:
        row: dict = {"strategy": strategy}
        for tag, drop in (("plain", 0.0), ("dropout", p)):
            torch.manual_seed(seed)
            model = build_model(strategy, drop)
            start = time.perf_counter()
            train(model, data["train"], epochs, seed)
            row[f"{tag}_train_s"] = time.perf_counter() - start
            row[f"{tag}_both"] = accuracy(model, data["test"], ("bottom", "top"))
            row[f"{tag}_top_only"] = accuracy(model, data["test"], ("top",))
            row[f"{tag}_bottom_only"] = accuracy(model, data["test"], ("bottom",))
            if plot_dir is not None and tag == "dropout":
                plot_attention(model, data["test"], plot_dir)
        rows.append(row)
    return rows


def single_view_references(*, epochs: int = 30, seed: int = 0, strategy: str = "early_concat") -> dict[str, float]:
    """Ceilings for the missing-modality columns: the same model trained and tested on one half only."""
    data = load_views(seed)
    found = {}
    for view in ("top", "bottom"):
        torch.manual_seed(seed)
        model = build_model(strategy, 0.0)
        train(model, data["train"], epochs, seed, modalities=(view,))
        found[f"{view}_alone"] = accuracy(model, data["test"], (view,))
    return found


def print_table(rows: list[dict], p: float, references: dict[str, float]) -> None:
    print(
        "\nTest accuracy (sklearn digits, 540 test images): both halves / top half only / bottom half only"
        f"\n{'strategy':<16} {'no modality dropout':>26}   {f'ModalityDropout(p={p})':>26}   {'train s':>8}"
    )
    print("-" * 84)
    for r in rows:
        plain = f"{r['plain_both']:.3f} / {r['plain_top_only']:.3f} / {r['plain_bottom_only']:.3f}"
        drop = f"{r['dropout_both']:.3f} / {r['dropout_top_only']:.3f} / {r['dropout_bottom_only']:.3f}"
        print(f"{r['strategy']:<16} {plain:>26}   {drop:>26}   {r['plain_train_s'] + r['dropout_train_s']:>8.1f}")
    print(
        f"reference: early_concat trained and tested on one half only: top {references['top_alone']:.3f}, "
        f"bottom {references['bottom_alone']:.3f}"
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs (< 60 s on 2 cores)")
    parser.add_argument("--json", type=Path, help="write the accuracies as one flat JSON object")
    parser.add_argument("--epochs", type=int, help="training epochs (default 25; quick 8)")
    parser.add_argument("--p", type=float, default=0.5, help="modality dropout probability")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--plots", type=Path, help="folder for attention PNGs of the trained models")
    args = parser.parse_args(argv)
    epochs = args.epochs or (8 if args.quick else 25)
    assert set(STRATEGIES) == set(FUSIONS.names()), "a registered strategy is missing from the comparison"
    torch.set_num_threads(1)  # tiny models: threads cost more than they give, and the machine is shared
    started = time.perf_counter()
    rows = run_comparison(epochs=epochs, p=args.p, seed=args.seed, plot_dir=args.plots)
    references = single_view_references(epochs=epochs, seed=args.seed)
    print_table(rows, args.p, references)
    print(f"\n({epochs} epochs, seed {args.seed}, total {time.perf_counter() - started:.0f} s)")
    figures = {"epochs": epochs, "p": args.p, **{k: round(v, 4) for k, v in references.items()}}
    for r in rows:
        for k, v in r.items():
            if k != "strategy":
                figures[f"{r['strategy']}_{k}"] = round(v, 4)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1, sort_keys=True))
    return figures


if __name__ == "__main__":
    main()

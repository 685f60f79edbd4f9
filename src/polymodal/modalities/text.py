"""Text: a file of UTF-8 text → token ids (WordPiece via ``tokenizers``) → ``TextBatch`` → Tokens.

- :func:`read_text` reads a ``.txt`` file;
- :class:`TextTransform` turns a string into token ids with the Hugging Face ``tokenizers``
  library: a model folder's ``tokenizer.json`` (any fast tokenizer, so CLIP's BPE works
  too), a BERT ``vocab.txt`` (lower-casing as the folder's ``tokenizer_config.json`` says),
  or a WordPiece vocabulary trained on a corpus; it truncates, and batches with padding;
- :func:`collate_text` pads samples into a :class:`TextBatch` with a bool attention mask;
- :class:`TextTokenizer` embeds ids (word + position + segment embeddings, LayerNorm,
  dropout; BERT's embedding layer, or CLIP's without segments and norm) into Tokens.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import decoders, models, normalizers, pre_tokenizers, processors
from torch import Tensor, nn

from pydantic import Field

from polymodal.configurable import Config, Configurable, validate_config, to_json
from polymodal.errors import CheckpointError, ConfigError, InputError
from polymodal.modalities.base import MODALITIES, TOKENIZERS, Batch, Modality, Tokenizer
from polymodal.tokens import Tokens

__all__ = [
    "TextBatch",
    "TextSample",
    "TextTransform",
    "TextTokenizer",
    "TextTokenizerConfig",
    "collate_text",
    "read_text",
    "TOKENIZER_FILE",
    "check_text_options",
]

TOKENIZER_FILE = "tokenizer.json"
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


@dataclass
class TextBatch(Batch):
    """A padded batch of token ids.

    Attributes:
        input_ids: ``[B, T]`` long token ids (padding holds the pad id).
        attention_mask: ``[B, T]`` bool, True = real token.
        token_type_ids: ``[B, T]`` long segment ids (0 for single sentences).
    """

    input_ids: Tensor
    attention_mask: Tensor
    token_type_ids: Tensor

    def __post_init__(self) -> None:
        ids = self.input_ids
        if not isinstance(ids, Tensor) or ids.ndim != 2 or ids.dtype != torch.long:
            raise InputError("TextBatch.input_ids", "a long tensor [B, T]", ids)
        if ids.shape[0] == 0:
            raise InputError("TextBatch.input_ids", "at least one sequence", "an empty batch")
        for name, dtype in (("attention_mask", torch.bool), ("token_type_ids", torch.long)):
            value = getattr(self, name)
            if not isinstance(value, Tensor) or value.shape != ids.shape or value.dtype != dtype:
                raise InputError(f"TextBatch.{name}", f"a {dtype} tensor of shape {list(ids.shape)}", value)


@dataclass(frozen=True)
class TextSample:
    """One tokenized text: ``input_ids [T]`` and ``token_type_ids [T]`` (long)."""

    input_ids: Tensor
    token_type_ids: Tensor


def read_text(path: str | Path) -> str:
    """The content of a UTF-8 text file, surrounding whitespace stripped (within the
    ``text_bytes`` limit of :mod:`polymodal.modalities.limits`)."""
    from polymodal.modalities._common import read_bytes_limited

    try:
        return read_bytes_limited(path, "a text file").decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise InputError(str(path), "a readable UTF-8 text file", f"a byte that is not UTF-8 at offset {exc.start}") from None


def collate_text(samples: Sequence[TextSample], pad_id: int = 0) -> TextBatch:
    """Pad ``[T_i]`` samples to ``[B, max T_i]``; the mask marks the real tokens."""
    if len(samples) == 0:
        raise InputError("samples", "at least one text", "an empty list")
    t = max(s.input_ids.shape[0] for s in samples)
    ids = torch.full((len(samples), t), pad_id, dtype=torch.long)
    types = torch.zeros(len(samples), t, dtype=torch.long)
    mask = torch.zeros(len(samples), t, dtype=torch.bool)
    for i, s in enumerate(samples):
        n = s.input_ids.shape[0]
        ids[i, :n], types[i, :n], mask[i, :n] = s.input_ids, s.token_type_ids, True
    return TextBatch(ids, mask, types)


def _bert_wordpiece(vocab: dict[str, int], lowercase: bool) -> HFTokenizer:
    """A BERT-style WordPiece pipeline: normalise, split on whitespace/punctuation, [CLS] x [SEP]."""
    for token in ("[UNK]", "[CLS]", "[SEP]"):
        if token not in vocab:
            raise InputError("vocabulary", f"the special token {token}", "a vocabulary without it")
    tok = HFTokenizer(models.WordPiece(vocab, unk_token="[UNK]", continuing_subword_prefix="##"))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, lowercase=lowercase)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens([t for t in SPECIAL_TOKENS if t in vocab])
    return tok


class TextTransform(Configurable):
    """Strings → token ids, picklable so that it runs in data-loader workers.

    Args:
        tokenizer: a ``tokenizers.Tokenizer`` (its own padding/truncation settings are
            switched off: this class truncates and :func:`collate_text` pads).
        max_length: longest sequence kept, special tokens included (truncation keeps the
            final special token, as Hugging Face does).
        pad_token: the padding token (its id pads batches).

    ``transform(text) -> TextSample``; ``transform.batch(texts) -> TextBatch``. Its config
    holds the options outside ``tokenizer.json``; the tokenizer is a part, saved as an asset
    (:meth:`save`, :meth:`from_pretrained`): ``TextTransform.from_config(config, tokenizer=...)``.
    """

    config_parts = ("tokenizer",)

    def __init__(self, tokenizer: HFTokenizer, *, max_length: int = 512, pad_token: str = "[PAD]") -> None:
        if not isinstance(max_length, int) or max_length < 2:
            raise ConfigError("text.max_length", "an integer >= 2", repr(max_length))
        self.tokenizer = tokenizer
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length)
        self.max_length = max_length
        self.pad_token = pad_token
        pad_id = tokenizer.token_to_id(pad_token)
        self.pad_id = 0 if pad_id is None else pad_id

    # --- constructors ------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, directory: str | Path, *, max_length: int | None = None) -> TextTransform:
        """Load ``tokenizer.json`` (preferred) or a BERT ``vocab.txt`` from a model folder.

        Lower-casing of a ``vocab.txt`` follows ``tokenizer_config.json``'s ``do_lower_case``
        (True when absent, as BERT's uncased models); ``max_length`` defaults to the folder's
        ``sentence_bert_config.json`` ``max_seq_length``, else ``model_max_length``, else 512.
        """
        directory = Path(directory)
        settings = _read_optional_json(directory / "tokenizer_config.json")
        polymodal_settings = _read_optional_json(directory / "text_transform.json")
        if max_length is None:
            st = _read_optional_json(directory / "sentence_bert_config.json")
            try:
                max_length = int(
                    polymodal_settings.get("max_length")
                    or st.get("max_seq_length")
                    or min(int(settings.get("model_max_length", 512)), 512)
                )
            except (TypeError, ValueError, OverflowError):
                raise InputError(f"{directory / 'text_transform.json'}: max_length", "an integer", polymodal_settings.get("max_length")) from None
        pad_token = polymodal_settings.get("pad_token") or _token_text(settings.get("pad_token")) or "[PAD]"
        if not isinstance(pad_token, str):
            raise InputError(f"{directory / 'text_transform.json'}: pad_token", "a string", pad_token)
        if (directory / TOKENIZER_FILE).is_file():
            try:
                tok = HFTokenizer.from_file(str(directory / TOKENIZER_FILE))
            except Exception as exc:  # the tokenizers library raises a bare Exception on a bad file
                raise InputError(str(directory / TOKENIZER_FILE), "a valid tokenizers JSON file", " ".join(str(exc).split())[:200]) from None
        elif (directory / "vocab.txt").is_file():
            try:
                return cls.from_vocab(
                    directory / "vocab.txt", lowercase=bool(settings.get("do_lower_case", True)), max_length=max_length
                )
            except UnicodeDecodeError:
                raise InputError(str(directory / "vocab.txt"), "a UTF-8 vocabulary, one token per line", "bytes that are not UTF-8") from None
        else:
            raise InputError(str(directory), f"a folder with {TOKENIZER_FILE} or vocab.txt", "neither found")
        return cls(tok, max_length=max_length, pad_token=pad_token)

    @staticmethod
    def available(directory: str | Path) -> bool:
        """Whether ``directory`` holds tokenizer files that :meth:`from_pretrained` reads."""
        return any((Path(directory) / name).is_file() for name in (TOKENIZER_FILE, "vocab.txt"))

    @classmethod
    def from_vocab(cls, vocab: str | Path | dict[str, int], *, lowercase: bool = True, max_length: int = 512) -> TextTransform:
        """A BERT WordPiece tokenizer from a ``vocab.txt`` (one token per line) or a token→id dict."""
        if not isinstance(vocab, dict):
            lines = Path(vocab).read_text(encoding="utf-8").splitlines()
            vocab = {token: i for i, token in enumerate(lines)}
        return cls(_bert_wordpiece(vocab, lowercase), max_length=max_length)

    @classmethod
    def train_wordpiece(
        cls,
        corpus: Iterable[str],
        *,
        vocab_size: int = 8000,
        min_frequency: int = 1,
        lowercase: bool = True,
        max_length: int = 512,
    ) -> TextTransform:
        """Learn a new WordPiece vocabulary from ``corpus`` (an iterable of strings).

        The same corpus and options give the same vocabulary, id for id, on every run
        (:func:`~polymodal.modalities.wordpiece.learn_wordpiece`), so a resumed run reads its
        texts as the interrupted one did.
        """
        from polymodal.modalities.wordpiece import learn_wordpiece

        normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, lowercase=lowercase)
        pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        words = (w for text in corpus for w, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)))
        vocab = learn_wordpiece(words, vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, min_frequency=min_frequency)
        return cls(_bert_wordpiece(vocab, lowercase), max_length=max_length)

    # --- use -----------------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def token_to_id(self, token: str) -> int | None:
        return self.tokenizer.token_to_id(token)

    def __call__(self, text: str) -> TextSample:
        if not isinstance(text, str):
            raise InputError("text", "a string", type(text).__name__)
        enc = self.tokenizer.encode(text)
        return TextSample(torch.tensor(enc.ids, dtype=torch.long), torch.tensor(enc.type_ids, dtype=torch.long))

    def batch(self, texts: Sequence[str]) -> TextBatch:
        """Tokenize, truncate and pad ``texts`` into a :class:`TextBatch` ``[B, T]``."""
        if isinstance(texts, str):
            raise InputError("texts", "a list of strings", "a single string (wrap it in a list)")
        if len(texts) == 0:
            raise InputError("texts", "at least one string", "an empty list")
        bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
        if bad:
            raise InputError("texts", "strings only", f"items of type {', '.join(sorted(set(bad)))}")
        encodings = self.tokenizer.encode_batch(list(texts))
        samples = [
            TextSample(torch.tensor(e.ids, dtype=torch.long), torch.tensor(e.type_ids, dtype=torch.long))
            for e in encodings
        ]
        return collate_text(samples, self.pad_id)

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids))

    # --- persistence -----------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        """Write ``tokenizer.json`` and ``text_transform.json`` (read back by :meth:`from_pretrained`)."""
        from polymodal._files import atomic_write, write_json

        directory = Path(directory)
        text = self.tokenizer.to_str(pretty=False)
        atomic_write(directory / TOKENIZER_FILE, lambda f: f.write(text), binary=False)
        write_json(directory / "text_transform.json", self.config().model_dump(mode="json"))

    def __getstate__(self) -> dict[str, Any]:
        return {"tokenizer": self.tokenizer.to_str(), **self.config().model_dump(mode="json")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(HFTokenizer.from_str(state["tokenizer"]), max_length=state["max_length"], pad_token=state["pad_token"])


def _read_optional_json(path: Path) -> dict[str, Any]:
    """A side file's JSON object, ``{}`` when absent; a damaged one raises naming the file."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InputError(str(path), "a valid JSON file", f"{type(exc).__name__}: {' '.join(str(exc).split())[:120]}") from None
    if not isinstance(data, dict):
        raise InputError(str(path), "a JSON object", type(data).__name__)
    return data


def _token_text(value: Any) -> str | None:
    # tokenizer_config.json stores special tokens as strings or as {"content": ...} objects.
    if isinstance(value, dict):
        return value.get("content")
    return value if isinstance(value, str) else None


class TextTokenizerConfig(Config):
    """Shape of :class:`TextTokenizer` (defaults: BERT-base's embedding layer)."""

    field_prefix: ClassVar[str] = "tokenizer.text"

    vocab_size: int = Field(30522, gt=0)
    dim: int = Field(768, gt=0)
    max_positions: int = Field(512, gt=0)
    # Segment (sentence A/B) embeddings; 0 for models without them (CLIP).
    type_vocab_size: int = Field(2, ge=0)
    # LayerNorm after the sum (BERT); CLIP's text embeddings have none.
    norm: bool = True
    layer_norm_eps: float = Field(1e-12, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)


@TOKENIZERS.register("text")
class TextTokenizer(Tokenizer):
    """Token ids → Tokens: word + position (+ segment) embeddings, LayerNorm, dropout.

    Parameter names (``word_embeddings``, ``position_embeddings``, ``token_type_embeddings``,
    ``norm``) map one-to-one onto BERT's embedding layer.

    Inputs:
        batch: :class:`TextBatch` with ``input_ids [B, T]``.

    Returns:
        Tokens ``[B, T, D]`` with the batch's attention mask.
    """

    modality = "text"
    # The config object it keeps (``tokenizer.config``, callable like every config) is its config.
    config_class = TextTokenizerConfig

    def __init__(self, config: TextTokenizerConfig | None = None, **overrides: Any) -> None:
        super().__init__()
        if config is not None and overrides:
            raise ConfigError("tokenizer.text", "a config or keyword options, not both", sorted(overrides))
        config = validate_config(TextTokenizerConfig, config if config is not None else overrides, "tokenizer.text")
        self.config = c = config
        self.dim = c.dim
        self.word_embeddings = nn.Embedding(c.vocab_size, c.dim)
        self.position_embeddings = nn.Embedding(c.max_positions, c.dim)
        self.token_type_embeddings = nn.Embedding(c.type_vocab_size, c.dim) if c.type_vocab_size > 0 else None
        self.norm = nn.LayerNorm(c.dim, eps=c.layer_norm_eps) if c.norm else None
        self.dropout = nn.Dropout(c.dropout)
        for emb in (self.word_embeddings, self.position_embeddings, self.token_type_embeddings):
            if emb is not None:
                nn.init.normal_(emb.weight, std=0.02)

    @classmethod
    def from_config(cls, config: TextTokenizerConfig | Mapping[str, Any] | None = None) -> TextTokenizer:
        return cls(validate_config(TextTokenizerConfig, config, "tokenizer.text"))

    def no_weight_decay(self) -> set[str]:
        return {"position_embeddings.weight"}

    def forward(self, batch: TextBatch) -> Tokens:
        if not isinstance(batch, TextBatch):
            raise InputError("batch", "a TextBatch", type(batch).__name__)
        ids = batch.input_ids
        b, t = ids.shape
        if t > self.config.max_positions:
            raise InputError("text length", f"at most {self.config.max_positions} tokens", f"{t} tokens")
        # A compiled forward leaves this to the embedding's own bounds check: reading the
        # ids here would split the graph.
        if not torch.compiler.is_compiling() and (int(ids.max()) >= self.config.vocab_size or int(ids.min()) < 0):
            raise InputError("input_ids", f"ids in [0, {self.config.vocab_size})", f"ids up to {int(ids.max())}")
        x = self.word_embeddings(ids)
        # Summed in BERT's order (word + segment + position) so that float results match bit for bit.
        if self.token_type_embeddings is not None:
            x = x + self.token_type_embeddings(batch.token_type_ids)
        x = x + self.position_embeddings.weight[:t][None]
        if self.norm is not None:
            x = self.norm(x)
        return Tokens(self.dropout(x), batch.attention_mask, "text")


@MODALITIES.register("text")
class TextModality(Modality):
    """UTF-8 text, WordPiece (or any tokenizer.json) ids, word + position + segment embeddings."""

    extensions = (".txt",)
    read = staticmethod(read_text)
    # Options name a vocabulary (a folder with tokenizer.json or vocab.txt) to build from.
    transform = TextTransform.from_pretrained
    collate = staticmethod(collate_text)
    default_tokenizer = "text"

    @classmethod
    def build_transform(cls, options: Mapping[str, Any], fit_on: Callable[[], Sequence[Any]] | None = None) -> TextTransform:
        """``{directory: <a folder with tokenizer.json or vocab.txt>}`` takes that vocabulary;
        ``{vocab_size: N}`` learns a WordPiece vocabulary from the training texts (``fit_on()``),
        the same on every run; both take ``max_length``, the second ``lowercase`` and ``min_frequency``."""
        check_text_options(options)
        if "directory" in options:
            return TextTransform.from_pretrained(options["directory"], max_length=options.get("max_length"))
        if fit_on is None:
            raise ConfigError("transforms.text", "training texts to learn the vocabulary from", "none")
        texts = list(fit_on())
        if not texts:
            raise ConfigError("transforms.text", "training samples with text to learn a vocabulary from", "none")
        return TextTransform.train_wordpiece(
            texts,
            vocab_size=int(options["vocab_size"]),
            min_frequency=int(options.get("min_frequency", 1)),
            lowercase=bool(options.get("lowercase", True)),
            max_length=int(options.get("max_length", 128)),
        )

    @classmethod
    def save_transform(cls, transform: TextTransform, directory: Path) -> None:
        transform.save(directory)

    @classmethod
    def load_transform(cls, config: Mapping[str, Any], directory: Path | None) -> TextTransform:
        if directory is None or not TextTransform.available(directory):
            raise CheckpointError(str(directory), f"a model folder holding the text vocabulary ({TOKENIZER_FILE})", "none")
        return TextTransform.from_pretrained(directory, max_length=config.get("max_length"))

    @classmethod
    def transform_digest(cls, transform: TextTransform) -> bytes:
        vocab = sorted(transform.tokenizer.get_vocab().items(), key=lambda item: item[1])
        return hashlib.sha256(json.dumps([to_json(transform.config()), vocab], sort_keys=True).encode()).digest()

    @classmethod
    def tokenizer_defaults(cls, transform: TextTransform, tokenizer: str) -> dict[str, Any]:
        return {"vocab_size": transform.vocab_size, "max_positions": transform.max_length} if tokenizer == "text" else {}


def check_text_options(options: Mapping[str, Any], field: str = "transforms.text") -> None:
    """Raise :class:`ConfigError` unless ``options`` name a vocabulary folder or a size to learn one."""
    expected = (
        "{directory: <a folder with tokenizer.json or vocab.txt>} or {vocab_size: N} "
        "(a WordPiece vocabulary learnt from the training texts), and optionally max_length"
    )
    known = {"directory", "vocab_size", "max_length", "lowercase", "min_frequency"}
    if set(options) - known or ("directory" in options) == ("vocab_size" in options):
        raise ConfigError(field, expected, dict(options))
    for key in ("lowercase", "min_frequency"):
        if "directory" in options and key in options:
            raise ConfigError(f"{field}.{key}", "unset with a directory (its tokenizer files decide)", options[key])

"""Autoregressive generation for :class:`~polymodal.models.captioner.Captioner`-like decoders.

Three strategies, registered by name in :data:`STRATEGIES`:

- ``greedy``: the most probable next token each step;
- ``beam``: beam search with a length penalty (Wu et al., GNMT 2016: a hypothesis of
  ``L`` tokens scores ``log p / L^α``), an end token and a maximum length; a beam that
  emits ``<eos>`` becomes a finished hypothesis and the search for a sample stops only
  when no running beam can still beat its worst kept finished hypothesis;
- ``sample``: top-k (Fan et al., 2018) and nucleus/top-p (Holtzman et al., 2020) sampling
  with a temperature, drawn from a caller's seeded ``torch.Generator``.

With ``use_cache`` each layer keeps a :class:`~polymodal.encoder.attention.KVCache`:
self-attention appends the new token's keys and values, cross-attention computes the
context's once, so a new token costs O(length). ``use_cache=False`` recomputes the whole
prefix every step (O(length²) per token), for comparison.

The decoder must provide ``decode(input_ids [B, T], context: Tokens, caches, last_only=True) -> [B, 1, V]``
and a ``config`` with ``depth``, ``max_length``, ``pad_id``, ``bos_id`` and ``eos_id``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from polymodal.encoder.attention import KVCache
from polymodal.errors import ConfigError, InputError
from polymodal.registry import Registry
from polymodal.tokens import Tokens

__all__ = [
    "GenerationConfig",
    "GenerationOutput",
    "DecoderCaches",
    "DecodingState",
    "STRATEGIES",
    "generate",
    "filter_logits",
]


@dataclass
class GenerationConfig:
    """How to generate."""

    strategy: Literal["greedy", "beam", "sample"] = "greedy"
    # Tokens generated after <bos>, <eos> included; None = the decoder's max_length.
    max_new_tokens: int | None = None
    num_beams: int = 4
    # GNMT's α: 0 ranks hypotheses by total log-probability, which favours short ones.
    length_penalty: float = 1.0
    temperature: float = 1.0
    # 0 = no top-k filtering; top_p = 1.0 = no nucleus filtering.
    top_k: int = 0
    top_p: float = 1.0
    use_cache: bool = True
    # False forbids <eos>, so every output is exactly max_new_tokens long (benchmarks).
    use_end_token: bool = True

    def __post_init__(self) -> None:
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ConfigError("generation.max_new_tokens", "a positive integer", repr(self.max_new_tokens))
        if self.num_beams < 1:
            raise ConfigError("generation.num_beams", "a positive integer", repr(self.num_beams))
        if self.temperature <= 0 or not 0 < self.top_p <= 1 or self.top_k < 0:
            raise ConfigError("generation", "temperature > 0, 0 < top_p <= 1, top_k >= 0", self)


@dataclass
class GenerationOutput:
    """Generated sequences.

    Attributes:
        tokens: ``[B, L]`` ids after ``<bos>``, ending with ``<eos>`` when one was
            produced, right-padded with ``<pad>``.
        scores: ``[B]`` total log-probability (greedy, sample) or the length-penalised
            beam score.
        lengths: ``[B]`` number of generated tokens, ``<eos>`` included.
    """

    tokens: Tensor
    scores: Tensor
    lengths: Tensor


@dataclass
class DecoderCaches:
    """One self-attention and one cross-attention :class:`KVCache` per layer."""

    self_attn: list[KVCache]
    cross_attn: list[KVCache]

    @classmethod
    def empty(cls, depth: int) -> DecoderCaches:
        return cls([KVCache() for _ in range(depth)], [KVCache() for _ in range(depth)])

    @property
    def length(self) -> int:
        return self.self_attn[0].length

    def reorder(self, index: Tensor) -> None:
        # Beam search only permutes rows within a sample's own beams, whose context is the
        # same, so the cross-attention caches need no reordering.
        for cache in self.self_attn:
            cache.reorder(index)


class DecodingState:
    """The prefix generated so far (``[B, t]`` from ``<bos>``) and, when caching, the caches."""

    def __init__(self, model: Any, context: Tokens, use_cache: bool) -> None:
        self.model = model
        self.context = context
        b = context.batch_size
        device = context.embeddings.device
        self.tokens = torch.full((b, 1), model.config.bos_id, dtype=torch.long, device=device)
        self.caches = DecoderCaches.empty(model.config.depth) if use_cache else None

    def next_logits(self) -> Tensor:
        """``[B, V]`` logits of the token after the current prefix."""
        if self.caches is None:
            return self.model.decode(self.tokens, self.context, last_only=True)[:, -1]
        new = self.tokens[:, self.caches.length :]  # only what the caches have not seen
        return self.model.decode(new, self.context, self.caches, last_only=True)[:, -1]

    def append(self, next_ids: Tensor) -> None:
        self.tokens = torch.cat([self.tokens, next_ids[:, None]], dim=1)

    def reorder(self, index: Tensor) -> None:
        self.tokens = self.tokens.index_select(0, index)
        if self.caches is not None:
            self.caches.reorder(index)


Strategy = Callable[[Any, Tokens, GenerationConfig, "torch.Generator | None"], GenerationOutput]
#: Generation strategies by name.
STRATEGIES: Registry[Strategy] = Registry("generation strategy")


def filter_logits(logits: Tensor, *, top_k: int = 0, top_p: float = 1.0) -> Tensor:
    """Set logits outside the top-k and outside the top-p nucleus to ``-inf``; ``[B, V]``."""
    if top_k > 0:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        # Drop a token when the tokens ranked above it already hold top_p of the mass;
        # the most probable token is always kept.
        drop_sorted = (probs.cumsum(dim=-1) - probs) >= top_p
        drop = drop_sorted.scatter(1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def _log_probs(logits: Tensor, config: GenerationConfig, model_config: Any) -> Tensor:
    """``[B, V]`` next-token log-probabilities; <pad> and <bos> are never generated."""
    logits = logits.float()
    never = [model_config.pad_id, model_config.bos_id]
    if not config.use_end_token:
        never.append(model_config.eos_id)
    logits[:, never] = float("-inf")
    return F.log_softmax(logits / config.temperature, dim=-1)


def _sequential(
    model: Any, context: Tokens, config: GenerationConfig, pick: Callable[[Tensor], Tensor]
) -> GenerationOutput:
    """One token per step for every sample (greedy and sampling); finished samples get padding."""
    c = model.config
    state = DecodingState(model, context, config.use_cache)
    b = context.batch_size
    device = state.tokens.device
    finished = torch.zeros(b, dtype=torch.bool, device=device)
    scores = torch.zeros(b, device=device)
    lengths = torch.zeros(b, dtype=torch.long, device=device)
    for _ in range(config.max_new_tokens):
        logp = _log_probs(state.next_logits(), config, c)
        next_ids = pick(logp)
        scores += logp.gather(1, next_ids[:, None]).squeeze(1).masked_fill(finished, 0.0)
        lengths += (~finished).long()
        next_ids = next_ids.masked_fill(finished, c.pad_id)
        state.append(next_ids)
        finished |= next_ids == c.eos_id
        if config.use_end_token and bool(finished.all()):
            break
    return GenerationOutput(tokens=state.tokens[:, 1:], scores=scores, lengths=lengths)


@STRATEGIES.register("greedy")
def greedy(model: Any, context: Tokens, config: GenerationConfig, generator: torch.Generator | None) -> GenerationOutput:
    return _sequential(model, context, config, lambda logp: logp.argmax(dim=-1))


@STRATEGIES.register("sample")
def sample(model: Any, context: Tokens, config: GenerationConfig, generator: torch.Generator | None) -> GenerationOutput:
    def pick(logp: Tensor) -> Tensor:
        probs = filter_logits(logp, top_k=config.top_k, top_p=config.top_p).softmax(dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)

    return _sequential(model, context, config, pick)


@STRATEGIES.register("beam")
def beam_search(
    model: Any, context: Tokens, config: GenerationConfig, generator: torch.Generator | None
) -> GenerationOutput:
    """Beam search; each sample keeps ``num_beams`` running beams and its best finished hypotheses."""
    c = model.config
    b, k, alpha, max_len = context.batch_size, config.num_beams, config.length_penalty, config.max_new_tokens
    device = context.embeddings.device
    rows = torch.arange(b, device=device).repeat_interleave(k)
    state = DecodingState(model, context.select(rows), config.use_cache)  # row b*k + j: beam j of sample b
    beam_scores = torch.zeros(b, k, device=device)
    beam_scores[:, 1:] = float("-inf")  # all beams start identical: let only beam 0 expand at step 1
    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(b)]
    done = [False] * b

    def normalised(score: float, length: int) -> float:
        return score / (length**alpha)

    for step in range(max_len):
        length = step + 1  # tokens generated once this step's token is added
        logp = _log_probs(state.next_logits(), config, c)  # [B*K, V]
        vocab = logp.shape[-1]
        candidates = (beam_scores.view(-1, 1) + logp).view(b, k * vocab)
        # 2K candidates guarantee K that do not end (each beam ends with at most one <eos>).
        top_scores, top_index = candidates.topk(min(2 * k, k * vocab), dim=1)
        top_scores, top_index = top_scores.tolist(), top_index.tolist()
        prefixes = state.tokens[:, 1:].tolist()
        index, tokens, scores = [], [], []
        for s in range(b):
            if done[s]:
                # Keep the finished sample's rows in place; their contents no longer matter.
                index += [s * k + j for j in range(k)]
                tokens += [c.pad_id] * k
                scores += beam_scores[s].tolist()
                continue
            chosen = 0
            for rank, (score, flat) in enumerate(zip(top_scores[s], top_index[s])):
                beam, token = divmod(flat, vocab)
                if token == c.eos_id and config.use_end_token:
                    # As in Hugging Face: an <eos> ranked below the top K does not count.
                    if rank < k:
                        hypothesis = prefixes[s * k + beam] + [token]
                        finished[s].append((normalised(score, length), hypothesis))
                    continue
                index.append(s * k + beam)
                tokens.append(token)
                scores.append(score)
                chosen += 1
                if chosen == k:
                    break
            finished[s] = sorted(finished[s], key=lambda h: h[0], reverse=True)[:k]
            if len(finished[s]) == k:
                best_running = max(scores[-k:])
                # The best a running beam can still reach: log-probabilities only fall, so with
                # α > 0 its best case is ending now-score at the maximum length.
                bound = normalised(best_running, max_len if alpha > 0 else length)
                done[s] = bound <= finished[s][-1][0]
        order = torch.tensor(index, device=device)
        state.reorder(order)
        state.append(torch.tensor(tokens, device=device))
        beam_scores = torch.tensor(scores, device=device, dtype=beam_scores.dtype).view(b, k)
        if all(done):
            break

    generated = state.tokens[:, 1:].tolist()
    best: list[tuple[float, list[int]]] = []
    for s in range(b):
        pool = list(finished[s])
        if not done[s]:
            # Beams still running at the length limit compete as they are.
            pool += [(normalised(beam_scores[s, j].item(), len(generated[s * k + j])), generated[s * k + j]) for j in range(k)]
        best.append(max(pool, key=lambda h: h[0]))
    width = max(len(h) for _, h in best)
    out = torch.full((b, width), c.pad_id, dtype=torch.long, device=device)
    for s, (_, hypothesis) in enumerate(best):
        out[s, : len(hypothesis)] = torch.tensor(hypothesis, device=device)
    return GenerationOutput(
        tokens=out,
        scores=torch.tensor([score for score, _ in best], device=device),
        lengths=torch.tensor([len(h) for _, h in best], device=device),
    )


def generate(
    model: Any,
    context: Tokens,
    config: GenerationConfig | None = None,
    *,
    generator: torch.Generator | None = None,
    **overrides: Any,
) -> GenerationOutput:
    """Generate from ``model`` conditioned on ``context`` (:class:`Tokens` ``[B, M, Dc]``).

    Args:
        config: a :class:`GenerationConfig`; keyword ``overrides`` replace its fields
            (``generate(model, ctx, strategy="beam", num_beams=4)``).
        generator: random source for ``strategy="sample"``.
    """
    config = config or GenerationConfig()
    if overrides:
        known = {f.name for f in fields(GenerationConfig)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError("generation", f"fields among {sorted(known)}", unknown)
        config = replace(config, **overrides)
    if not isinstance(context, Tokens):
        raise InputError("context", "encoder output as polymodal.Tokens", type(context).__name__)
    if config.max_new_tokens is None:
        config = replace(config, max_new_tokens=model.config.max_length)
    if config.max_new_tokens > model.config.max_length:
        raise ConfigError(
            "generation.max_new_tokens", f"at most the decoder's max_length={model.config.max_length}", config.max_new_tokens
        )
    strategy = STRATEGIES.get(config.strategy, field="generation.strategy")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return strategy(model, context, config, generator)
    finally:
        model.train(was_training)

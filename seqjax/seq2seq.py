"""Sequence to sequence, pure: an encoder-decoder over any seqjax cell, with or without attention.

::

    model = sj.seq2seq.seq2seq(sj.cells.gru(64), source_vocab=40, target_vocab=14,
                               embedding_dim=32, attention=sj.attention.additive(64))
    params = model.init(key)
    logits, weights = model.teacher_forcing(params, src, src_lengths, targets)  # training
    tokens, weights = model.greedy(params, src, src_lengths, max_length=11)      # decoding
    tokens, log_prob = model.beam_search(params, src, src_lengths, max_length=11, beam_size=4)

Shapes (batch-first, ids): ``src [B, S]`` right-padded, ``src_lengths [B]``,
``targets [B, T]`` (ending in ``eos_id``); ``logits [B, T, V]``, attention
``weights [B, T, S]``. The encoder is a bidirectional scan of the cell (outputs of
the two directions summed, so keys have the decoder's width); the decoder starts
from the sum of the encoder's final carries. At each step the decoder reads the
previous token's embedding and the attention context computed from its previous
state (Bahdanau et al.), and predicts from ``[h, context]``. Decoding is one
``lax.scan`` over output steps: it compiles under ``jit``; there is no Python loop.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jax.sharding import NamedSharding, PartitionSpec as P

from seqjax._mesh_types import explicit_batch_spec, like_inputs, shard_like_batch, take_rows
from seqjax.attention import Attention, length_mask
from seqjax.cells import Cell
from seqjax.recurrence import BidirectionalParams, bidirectional, init_bidirectional, output_size

Array = jax.Array

__all__ = ["Seq2Seq", "Seq2SeqParams", "Memory", "seq2seq", "sequence_loss", "trim_after_eos"]


class Seq2SeqParams(NamedTuple):
    """``source_embedding [Vs, E]``, ``target_embedding [Vt, E]``, ``encoder``
    (:class:`~seqjax.BidirectionalParams`), ``decoder`` (the cell's params on
    ``E (+ H)`` inputs), ``attention`` (``()`` without), ``output_kernel [H (+ H), Vt]``,
    ``output_bias [Vt]``."""

    source_embedding: Array
    target_embedding: Array
    encoder: BidirectionalParams
    decoder: Any
    attention: Any
    output_kernel: Array
    output_bias: Array


class Memory(NamedTuple):
    """The encoded source: ``keys [B, S, H]``, ``mask [B, S]`` and the decoder's first ``carry``."""

    keys: Array
    mask: Array
    carry: Any


class Seq2Seq(NamedTuple):
    """The model's pure functions (see the module docstring)."""

    init: Callable[..., Seq2SeqParams]
    encode: Callable[..., Memory]
    step: Callable[..., tuple[Any, Array, Array]]
    teacher_forcing: Callable[..., tuple[Array, Array]]
    greedy: Callable[..., tuple[Array, Array]]
    beam_search: Callable[..., tuple[Array, Array]]


def _check_ids(name: str, ids: Array) -> None:
    if jnp.ndim(ids) != 2 or not jnp.issubdtype(jnp.asarray(ids).dtype, jnp.integer):
        raise ValueError(f"{name} must be integer ids [B, length]; got {jnp.asarray(ids).dtype} {tuple(jnp.shape(ids))}.")


def seq2seq(
    cell: Cell,
    *,
    source_vocab: int,
    target_vocab: int,
    embedding_dim: int,
    attention: Attention | None = None,
    bos_id: int = 1,
    eos_id: int = 2,
) -> Seq2Seq:
    """An encoder-decoder over ``cell`` (any seqjax cell), with optional ``attention``.

    Args:
      cell: the recurrent cell of both encoder and decoder, e.g. ``sj.cells.gru(64)``.
      source_vocab, target_vocab: vocabulary sizes (id 0 is padding in the source).
      embedding_dim: ``E``.
      attention: an :class:`~seqjax.attention.Attention`, or ``None`` for the plain
        encoder-decoder (the decoder sees the source only through its first carry).
      bos_id, eos_id: the start token fed first, and the end token.
    """
    for name, v in (("source_vocab", source_vocab), ("target_vocab", target_vocab), ("embedding_dim", embedding_dim)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int; got {v!r}.")
    if not (0 <= bos_id < target_vocab and 0 <= eos_id < target_vocab):
        raise ValueError(f"bos_id={bos_id} and eos_id={eos_id} must be ids below target_vocab={target_vocab}.")

    def init(key: Array, dtype: Any = jnp.float32) -> Seq2SeqParams:
        ks = jax.random.split(key, 6)
        encoder = init_bidirectional(ks[0], cell, embedding_dim, dtype=dtype)
        hidden = output_size(cell, encoder.forward, embedding_dim)
        context = hidden if attention is not None else 0
        return Seq2SeqParams(
            source_embedding=jax.random.uniform(ks[1], (source_vocab, embedding_dim), dtype, -0.05, 0.05),
            target_embedding=jax.random.uniform(ks[2], (target_vocab, embedding_dim), dtype, -0.05, 0.05),
            encoder=encoder,
            decoder=cell.init(ks[3], embedding_dim + context, dtype),
            attention=attention.init(ks[4], hidden, hidden, dtype) if attention is not None else (),
            output_kernel=jax.nn.initializers.glorot_uniform()(ks[5], (hidden + context, target_vocab), dtype),
            output_bias=jnp.zeros((target_vocab,), dtype),
        )

    def encode(params: Seq2SeqParams, src: Array, src_lengths: Array) -> Memory:
        _check_ids("src", src)
        xs = jnp.swapaxes(take_rows(params.source_embedding, src), 0, 1)  # [S, B, E]
        carry, ys = bidirectional(cell, params.encoder, xs, lengths=src_lengths, merge="sum")
        first = jax.tree.map(jnp.add, carry.forward, carry.backward)
        return Memory(jnp.swapaxes(ys, 0, 1), length_mask(src_lengths, src.shape[1]), first)

    def step(params: Seq2SeqParams, memory: Memory, carry: Any, token: Array) -> tuple[Any, Array, Array]:
        """One decoder step: ``token [N]`` -> ``(carry, logits [N, Vt], weights [N, S])``."""
        e = take_rows(params.target_embedding, token)
        if attention is not None:
            context, weights = attention.apply(params.attention, carry.h, memory.keys, memory.keys, mask=memory.mask)
            e = jnp.concatenate([e, context], axis=-1)
        else:
            context = jnp.zeros_like(e[..., :0])  # *_like: typed like the batch on a mesh
            weights = jnp.zeros_like(memory.mask, e.dtype)
        carry, h = cell.apply(params.decoder, carry, e)
        logits = jnp.concatenate([h, context], axis=-1) @ params.output_kernel + params.output_bias
        return carry, logits, weights

    def teacher_forcing(params: Seq2SeqParams, src: Array, src_lengths: Array, targets: Array):
        """Training logits ``[B, T, Vt]`` and weights ``[B, T, S]``, feeding the true previous token."""
        _check_ids("targets", targets)
        memory = encode(params, src, src_lengths)
        inputs = jnp.concatenate([jnp.full_like(targets[:, :1], bos_id), targets[:, :-1]], axis=1)

        def body(carry, token):
            carry, logits, weights = step(params, memory, carry, token)
            return carry, (logits, weights)

        _, (logits, weights) = lax.scan(body, memory.carry, inputs.T)
        return jnp.swapaxes(logits, 0, 1), jnp.swapaxes(weights, 0, 1)

    def greedy(params: Seq2SeqParams, src: Array, src_lengths: Array, max_length: int):
        """The most likely token at each step: ``tokens [B, max_length]`` (padded with 0
        after ``eos_id``) and the attention ``weights [B, max_length, S]``."""
        memory = encode(params, src, src_lengths)

        def body(state, _):
            carry, token = state
            carry, logits, weights = step(params, memory, carry, token)
            token = jnp.argmax(logits, axis=-1).astype(jnp.int32)
            return (carry, token), (token, weights)

        start = jnp.full((src.shape[0],), bos_id, jnp.int32)
        state = like_inputs((memory.carry, start), src.T, 0, params, src_lengths)  # typed on a mesh
        _, (tokens, weights) = lax.scan(body, state, None, length=max_length)
        return trim_after_eos(tokens.T, eos_id), jnp.swapaxes(weights, 0, 1)

    def beam_search(params: Seq2SeqParams, src: Array, src_lengths: Array, max_length: int, beam_size: int = 4):
        """The best of ``beam_size`` hypotheses kept at each step: ``tokens [B, max_length]``
        (0 after ``eos_id``) and its total log-probability ``[B]``."""
        if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
            raise ValueError(f"beam_size must be a positive int; got {beam_size!r}.")
        split = explicit_batch_spec(src.T, feature_dims=0)
        if split is not None:  # an explicit-sharding mesh splits the rows: search on every device's copy
            replicated = NamedSharding(jax.typeof(src).sharding.mesh, P())
            src, src_lengths = jax.sharding.reshard(src, replicated), jax.sharding.reshard(src_lengths, replicated)
            tokens, scores = beam_search(params, src, src_lengths, max_length, beam_size)
            return shard_like_batch((tokens, scores), split, src)
        memory = encode(params, src, src_lengths)
        batch, k = src.shape[0], beam_size
        tile = lambda x: jnp.repeat(x, k, axis=0)  # noqa: E731  [B, ...] -> [B * K, ...]
        memory = Memory(tile(memory.keys), tile(memory.mask), jax.tree.map(tile, memory.carry))
        neg = jnp.asarray(-1e9, memory.keys.dtype)
        scores = jnp.where(jnp.arange(k) == 0, 0.0, neg)[None].repeat(batch, 0)  # only beam 0 is live at first
        tokens = jnp.zeros((batch, k, max_length), jnp.int32)
        finished = jnp.zeros((batch, k), bool)
        last = jnp.full((batch * k,), bos_id, jnp.int32)

        def body(state, t):
            carry, last, scores, tokens, finished = state
            carry, logits, _ = step(params, memory, carry, last)
            logp = jax.nn.log_softmax(logits, axis=-1).reshape(batch, k, -1)
            vocab = logp.shape[-1]
            ended = jnp.where(jnp.arange(vocab) == eos_id, 0.0, neg)  # a finished hypothesis only repeats eos, free
            logp = jnp.where(finished[..., None], ended, logp)
            top, flat = lax.top_k((scores[..., None] + logp).reshape(batch, k * vocab), k)
            parent, token = flat // vocab, (flat % vocab).astype(jnp.int32)
            pick = lambda x: jnp.take_along_axis(  # noqa: E731  reorder [B * K, ...] rows by parent beam
                x.reshape(batch, k, *x.shape[1:]), parent.reshape(batch, k, *([1] * (x.ndim - 1))), axis=1
            ).reshape(x.shape)
            carry = jax.tree.map(pick, carry)
            tokens = jnp.take_along_axis(tokens, parent[..., None], axis=1).at[:, :, t].set(token)
            finished = jnp.take_along_axis(finished, parent, axis=1) | (token == eos_id)
            return (carry, token.reshape(-1), top, tokens, finished), None

        init = like_inputs((memory.carry, last, scores, tokens, finished), src.T, 0, params, src_lengths)
        (_, _, scores, tokens, _), _ = lax.scan(body, init, jnp.arange(max_length))
        return trim_after_eos(tokens[:, 0], eos_id), scores[:, 0]  # top_k sorts: beam 0 is the best

    return Seq2Seq(init, encode, step, teacher_forcing, greedy, beam_search)


def trim_after_eos(tokens: Array, eos_id: int) -> Array:
    """Zeros every token after the first ``eos_id`` in each row of ``tokens [B, T]``."""
    seen = jnp.cumsum(tokens == eos_id, axis=1)
    after = (seen - (tokens == eos_id)) > 0
    return jnp.where(after, 0, tokens)


def sequence_loss(logits: Array, targets: Array, mask: Array | None = None) -> Array:
    """Mean token cross-entropy of ``logits [B, T, V]`` against ``targets [B, T]``
    over the positions where ``mask [B, T]`` (default: all)."""
    import optax

    losses = optax.softmax_cross_entropy_with_integer_labels(logits, targets)
    if mask is None:
        return jnp.mean(losses)
    mask = mask.astype(losses.dtype)
    return jnp.sum(losses * mask) / jnp.maximum(jnp.sum(mask), 1.0)

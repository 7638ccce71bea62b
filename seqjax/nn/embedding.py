"""Token embeddings whose padding id 0 becomes sequence lengths."""

from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from seqjax._mesh_types import take_rows

FROZEN = "frozen"  # variable collection of non-trainable weights (never differentiated)


class Embedded(NamedTuple):
    """``x [B, T, D]`` and ``lengths [B]`` (``T`` for every row unless ``mask_zero``)."""

    x: jax.Array
    lengths: jax.Array


def padding_lengths(ids: jax.Array) -> jax.Array:
    """``[B]`` position after the last non-zero id of each row of ``ids [B, T]``.

    For right-padded rows that is the number of real tokens; a left-padded
    (Keras ``padding="pre"``) row counts as full length, so it is processed
    whole, as Keras does without a mask.
    """
    positions = jnp.arange(1, ids.shape[-1] + 1)
    return jnp.max(jnp.where(ids != 0, positions, 0), axis=-1).astype(jnp.int32)


def keras_uniform(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
    """Keras's embedding initialiser, uniform on ``[-0.05, 0.05)``."""
    return jax.random.uniform(key, shape, dtype, -0.05, 0.05)


class Embedding(nn.Module):
    """Keras ``Embedding``: ``ids [B, T]`` -> :class:`Embedded`.

    Attributes:
      num_embeddings: vocabulary size ``V`` (ids in ``[0, V)``; check them in the
        input pipeline: an id outside ``[-V, V)`` gets a row of NaN, so the loss turns NaN;
        a negative id counts from the end).
      features: embedding size ``D``.
      mask_zero: id 0 is padding: ``lengths`` stop after the last non-zero id.
      trainable: ``False`` keeps the table in the ``"frozen"`` collection, out of
        the gradient (load pretrained vectors with :func:`set_embedding`).
      embedding_init: initialiser, :func:`keras_uniform` by default.
    """

    num_embeddings: int
    features: int
    mask_zero: bool = False
    trainable: bool = True
    embedding_init: Any = keras_uniform

    def setup(self):
        shape = (self.num_embeddings, self.features)
        if self.trainable:
            self.embedding = self.param("embedding", self.embedding_init, shape)
        else:
            make = lambda: self.embedding_init(self.make_rng("params"), shape)  # noqa: E731  only at init
            self.embedding = self.variable(FROZEN, "embedding", make).value

    def table(self) -> jax.Array:
        """The embedding matrix ``[V, D]``."""
        return self.embedding

    def __call__(self, ids: jax.Array) -> Embedded:
        table = self.embedding
        x = take_rows(table, ids)  # jnp.take, typed for explicit-sharding meshes
        if self.mask_zero:
            lengths = padding_lengths(ids)
        else:
            lengths = jnp.full(ids.shape[:-1], ids.shape[-1], jnp.int32)
        return Embedded(x, lengths)


def set_embedding(variables: dict, matrix: jax.Array, module: str = "Embedding_0") -> dict:
    """A copy of ``variables`` whose ``module`` embedding table is ``matrix [V, D]``."""
    for collection in ("params", FROZEN):
        tables = variables.get(collection, {})
        if module in tables and "embedding" in tables[module]:
            old = tables[module]["embedding"]
            if tuple(old.shape) != tuple(matrix.shape):
                raise ValueError(
                    f"pretrained matrix must have shape {tuple(old.shape)} (vocabulary x features); "
                    f"got {tuple(matrix.shape)}. Build it with num_words={old.shape[0]}."
                )
            new_tables = {**tables, module: {**tables[module], "embedding": jnp.asarray(matrix, old.dtype)}}
            return {**variables, collection: new_tables}
    raise ValueError(f"no embedding table named {module!r} in the model's variables.")

"""The grain input pipeline: seeded per-epoch shuffling, batching, splits, balancing.

Batches are dicts of NumPy arrays with fixed keys. Token ids are checked against
the vocabulary here, at the data boundary: JAX clamps out-of-range gather
indices silently, so an id past the embedding table would otherwise train on the
wrong row without a word.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import grain
import numpy as np

Example = Mapping[str, Any]


class Subset:
    """A random-access view of ``source`` at ``indices`` (``len()``, indexing)."""

    def __init__(self, source: Any, indices: Sequence[int]):
        self._source = source
        self._indices = np.asarray(indices, np.int64)
        if self._indices.size and (self._indices.min() < 0 or self._indices.max() >= len(source)):
            raise ValueError(
                f"indices must lie in [0, {len(source)}); got {self._indices.min()}..{self._indices.max()}."
            )

    def __len__(self) -> int:
        return len(self._indices)

    def __getitem__(self, index: int) -> Any:
        return self._source[int(self._indices[index])]


class _ProcessRows:
    """This process's rows of every global batch of ``source``: global batch ``b``
    holds positions ``[b * G, (b + 1) * G)`` and process ``p`` of ``P`` reads
    positions ``b * G + p * G / P`` onwards, ``G / P`` of them. The remainder
    that does not fill a global batch is dropped."""

    def __init__(self, source: Any, global_batch: int, index: int, count: int):
        self._source, self._global, self._index = source, global_batch, index
        self._local = global_batch // count
        self._batches = len(source) // global_batch

    def __len__(self) -> int:
        return self._batches * self._local

    def __getitem__(self, i: int) -> Any:
        batch, offset = divmod(int(i), self._local)
        return self._source[batch * self._global + self._index * self._local + offset]


class EncodedExamples:
    """Every example of a source, transformed once and held in memory as stacked NumPy
    arrays ``{key: [N, ...]}``, so that an epoch costs a gather per batch instead of a
    read, a decode and a transform per example.

    :func:`batches` reads it a whole batch at a time (by index), in exactly the order and
    with exactly the rows the per-example pipeline gives for the same source and
    transform. Random access (``len()``, ``[i]``) gives one example, as a source does.

    Measured on 2 CPU cores (docs/BENCHMARKS.md): a batch of the SST LSTM's 150 encoded
    examples took 18-19 ms through the per-example pipeline from the prepared tfds source
    (26-29 ms iterated, with grain's thread pool), against a 5-7 ms train step.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray]):
        arrays = {key: np.asarray(value) for key, value in arrays.items()}
        sizes = {key: len(value) for key, value in arrays.items()}
        if not arrays or len(set(sizes.values())) != 1:
            raise ValueError(f"EncodedExamples needs one or more arrays with the same number of rows; got {sizes}.")
        self.arrays = arrays

    @classmethod
    def from_source(cls, source: Any, transform: Callable[[Example], Example] | None = None) -> "EncodedExamples":
        """Reads every example of ``source`` once and applies ``transform`` (as :func:`batches`
        would). Every transformed example must have the same keys and shapes."""
        if len(source) == 0:
            raise ValueError("source is empty: there is nothing to encode. Check the split and its filters.")
        examples = [source[i] if transform is None else transform(source[i]) for i in range(len(source))]
        keys = list(examples[0])
        for i, example in enumerate(examples):
            if list(example) != keys:
                raise ValueError(f"example {i} has keys {sorted(example)}, example 0 has {sorted(keys)}: a transform "
                                 "must give every example the same keys.")
        try:
            return cls({key: np.stack([np.asarray(example[key]) for example in examples]) for key in keys})
        except ValueError as err:
            raise ValueError(f"the examples' arrays differ in shape ({err}); pad them to one shape in the transform "
                             "(as the encoders do) before they can be batched.") from None

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    def __getitem__(self, index: int | np.ndarray) -> Example:
        """One example, or for an index array the examples at it stacked: ``{key: [len(index), ...]}``."""
        return {key: value[index] for key, value in self.arrays.items()}


class _Chunks:
    """``order`` cut into consecutive runs of ``size`` (the last one shorter unless dropped)."""

    def __init__(self, order: np.ndarray, size: int, drop_remainder: bool):
        self._order, self._size = order, size
        self._len = len(order) // size if drop_remainder else -(-len(order) // size)

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, i: int) -> np.ndarray:
        if not 0 <= i < self._len:
            raise IndexError(f"batch {i} of {self._len}")
        return self._order[i * self._size:(i + 1) * self._size]


def epoch_seed(seed: int, epoch: int) -> int:
    """A 32-bit shuffle seed for ``epoch``, derived from the run's ``seed``."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


def check_token_ids(ids: np.ndarray, vocab_size: int, *, name: str = "ids") -> None:
    """Raises ``ValueError`` if any id lies outside ``[0, vocab_size)``.

    Args:
      ids: integer array ``[B, T]`` (or any shape).
      vocab_size: the number of embedding rows.
      name: the batch key, for the message.
    """
    ids = np.asarray(ids)
    bad = (ids < 0) | (ids >= vocab_size)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name}: token id {int(ids[where])} at index {where} of the batch is outside [0, vocab_size={vocab_size}). "
            f"The embedding has {vocab_size} rows: cap the vocabulary (num_words={vocab_size}) "
            "or enlarge the embedding."
        )


def batches(
    source: Any,
    *,
    batch_size: int,
    seed: int = 0,
    epoch: int = 0,
    shuffle: bool = True,
    drop_remainder: bool = False,
    transform: Callable[[Example], Example] | None = None,
    vocab_sizes: Mapping[str, int] | None = None,
    process_index: int = 0,
    process_count: int = 1,
) -> grain.MapDataset:
    """One epoch of batches of ``source`` as a grain ``MapDataset``.

    The order is a deterministic function of ``(seed, epoch)``: every epoch is
    reshuffled, and the same seed gives the same epochs. ``iter()`` of the result
    is a grain iterator whose ``get_state()`` / ``set_state()`` resume mid-epoch.

    Args:
      source: a random-access data source (``len()``, indexing), e.g. from
        :func:`seqjax.data.load`.
      batch_size: examples per batch.
      seed: the run's seed.
      epoch: the epoch number (changes the shuffle).
      shuffle: shuffle (training) or keep the order (evaluation).
      drop_remainder: drop the last, smaller batch.
      transform: per-example function returning a dict of NumPy arrays / scalars.
      vocab_sizes: ``{batch key: vocabulary size}`` to check token ids against.
      process_index, process_count: with several processes (hosts), each reads only
        its disjoint ``batch_size / process_count`` rows of every global batch.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}.")
    if len(source) == 0:
        raise ValueError("source is empty: there is nothing to batch. Check the split and its filters.")
    encoded = isinstance(source, EncodedExamples) and transform is None
    # encoded rows: the same order computed over positions (a shuffle permutes them alike), then
    # gathered a whole batch at a time
    dataset = grain.MapDataset.range(len(source)) if encoded else grain.MapDataset.source(source)
    if shuffle:
        dataset = dataset.shuffle(seed=epoch_seed(seed, epoch))
    if process_count > 1:
        if batch_size % process_count:
            raise ValueError(f"batch_size={batch_size} must split evenly over the {process_count} processes.")
        dataset = grain.MapDataset.source(_ProcessRows(dataset, batch_size, process_index, process_count))
        batch_size //= process_count
    if encoded:
        order = np.fromiter((dataset[i] for i in range(len(dataset))), np.int64, len(dataset))
        dataset = grain.MapDataset.source(_Chunks(order, batch_size, drop_remainder)).map(source.__getitem__)
    else:
        if transform is not None:
            dataset = dataset.map(transform)
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if vocab_sizes:
        def checked(batch: Example) -> Example:
            for key, size in vocab_sizes.items():
                check_token_ids(batch[key], size, name=key)
            return batch

        dataset = dataset.map(checked)
    return dataset


def split_validation(source: Any, validation: int | float) -> tuple[Subset, Subset]:
    """Splits off validation data: ``(train, validation)``.

    Args:
      source: a random-access data source.
      validation: an int ``N`` holds out the first ``N`` examples (the course's
        ``x_train[:10000]``); a float ``f`` in ``(0, 1)`` holds out the last
        ``round(f * len)`` examples, as Keras's ``validation_split`` does.
    """
    n = len(source)
    if isinstance(validation, bool) or not isinstance(validation, (int, float)):
        raise ValueError(f"validation must be an int count or a float fraction; got {validation!r}.")
    if isinstance(validation, int):
        if not 0 < validation < n:
            raise ValueError(f"validation={validation} must hold out between 1 and {n - 1} of {n} examples.")
        return Subset(source, range(validation, n)), Subset(source, range(validation))
    if not 0.0 < validation < 1.0:
        raise ValueError(f"validation fraction must lie in (0, 1); got {validation}.")
    cut = n - int(round(validation * n))
    if not 0 < cut < n:
        raise ValueError(f"validation={validation} of {n} examples leaves an empty split.")
    return Subset(source, range(cut)), Subset(source, range(cut, n))


def train_test_split(
    num_examples: int, test_size: float, random_state: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(train_indices, test_indices)`` exactly as ``sklearn.model_selection.train_test_split``.

    Non-stratified: ``RandomState(random_state).permutation(n)``, the first
    ``ceil(test_size * n)`` for test and the rest for train, as sklearn's
    ``ShuffleSplit`` does, so course splits are reproduced index for index.
    """
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must lie in (0, 1); got {test_size}.")
    n_test = math.ceil(test_size * num_examples)
    if not 0 < n_test < num_examples:
        raise ValueError(f"test_size={test_size} of {num_examples} examples leaves an empty split.")
    permutation = np.random.RandomState(random_state).permutation(num_examples)
    return permutation[n_test:], permutation[:n_test]


def oversample(labels: Sequence[int], seed: int) -> np.ndarray:
    """Random oversampling: indices where every class appears as often as the largest.

    All original indices come first (in order), then, class by class, extra
    indices drawn with replacement from the smaller classes.
    """
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    rng = np.random.default_rng(seed)
    extra = [
        rng.choice(np.flatnonzero(labels == c), size=counts.max() - n, replace=True)
        for c, n in zip(classes, counts)
        if n < counts.max()
    ]
    return np.concatenate([np.arange(len(labels)), *extra]).astype(np.int64)


def class_weights(labels: Sequence[int]) -> dict[int, float]:
    """Balanced class weights ``n / (num_classes * count)``, as sklearn's ``"balanced"``."""
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    return {int(c): len(labels) / (len(classes) * int(n)) for c, n in zip(classes, counts)}

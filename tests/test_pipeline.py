"""The grain pipeline: seeded per-epoch shuffles, resumable iterators, splits, balancing."""

import math

import numpy as np
import pytest

from seqjax.data import pipeline


class Source:
    """A random-access source of ``n`` examples ``{"x": i, "ids": [i, i + 1]}``."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"x": np.int64(i), "ids": np.array([i, i + 1], np.int32)}


def order(ds):
    return np.concatenate([b["x"] for b in ds]).tolist()


def test_batches_are_dicts_of_numpy_with_fixed_keys():
    batch = next(iter(pipeline.batches(Source(10), batch_size=4, seed=0)))
    assert set(batch) == {"x", "ids"}
    assert batch["ids"].shape == (4, 2) and isinstance(batch["x"], np.ndarray)


def test_shuffle_is_deterministic_per_seed_and_changes_per_epoch():
    src = Source(50)
    a0 = order(pipeline.batches(src, batch_size=8, seed=1, epoch=0))
    assert a0 == order(pipeline.batches(src, batch_size=8, seed=1, epoch=0))
    assert sorted(a0) == list(range(50)), "each epoch visits every example once"
    assert a0 != order(pipeline.batches(src, batch_size=8, seed=1, epoch=1))
    assert a0 != order(pipeline.batches(src, batch_size=8, seed=2, epoch=0))
    assert order(pipeline.batches(src, batch_size=8, shuffle=False)) == list(range(50))


def test_drop_remainder():
    assert len(pipeline.batches(Source(10), batch_size=4)) == 3
    ds = pipeline.batches(Source(10), batch_size=4, drop_remainder=True)
    assert len(ds) == 2 and all(len(b["x"]) == 4 for b in ds)


def test_iterator_state_resumes_mid_epoch():
    ds = pipeline.batches(Source(30), batch_size=4, seed=3, epoch=2)
    it = iter(ds)
    next(it), next(it)
    state = it.get_state()
    rest = [b["x"].tolist() for b in it]
    resumed = iter(pipeline.batches(Source(30), batch_size=4, seed=3, epoch=2))
    resumed.set_state(state)
    assert [b["x"].tolist() for b in resumed] == rest


def test_transform_and_token_id_check():
    ds = pipeline.batches(
        Source(10), batch_size=5, shuffle=False,
        transform=lambda ex: {"ids": ex["ids"] * 2}, vocab_sizes={"ids": 100},
    )
    assert next(iter(ds))["ids"].tolist()[1] == [2, 4]
    bad = pipeline.batches(Source(10), batch_size=5, shuffle=False, vocab_sizes={"ids": 6})
    with pytest.raises(ValueError, match=r"ids: token id 6 at index \(0, 1\) of the batch is outside \[0, vocab_size=6\)"):
        list(bad)


def test_check_token_ids_negative():
    with pytest.raises(ValueError, match="token id -1"):
        pipeline.check_token_ids(np.array([[0, -1]]), 5)
    pipeline.check_token_ids(np.array([[0, 4]]), 5)


def test_batches_errors():
    with pytest.raises(ValueError, match="batch_size must be a positive int; got 0"):
        pipeline.batches(Source(3), batch_size=0)
    with pytest.raises(ValueError, match="source is empty"):
        pipeline.batches(Source(0), batch_size=2)


def test_split_validation_first_n_and_keras_fraction():
    train, val = pipeline.split_validation(Source(100), 30)
    assert [val[i]["x"] for i in range(3)] == [0, 1, 2] and len(train) == 70 and train[0]["x"] == 30
    train, val = pipeline.split_validation(Source(100), 0.2)
    assert len(val) == 20 and val[0]["x"] == 80 and len(train) == 80
    with pytest.raises(ValueError, match="validation=100 must hold out between 1 and 99"):
        pipeline.split_validation(Source(100), 100)
    with pytest.raises(ValueError, match=r"validation fraction must lie in \(0, 1\)"):
        pipeline.split_validation(Source(100), 1.5)


def test_train_test_split_is_sklearns():
    train, test = pipeline.train_test_split(5572, 0.4, random_state=123)
    assert len(test) == math.ceil(0.4 * 5572) and len(train) == 5572 - len(test)
    perm = np.random.RandomState(123).permutation(5572)
    np.testing.assert_array_equal(test, perm[: len(test)])
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(5572))


def test_oversample_balances_and_class_weights():
    labels = np.array([0] * 8 + [1] * 2 + [2] * 4)
    idx = pipeline.oversample(labels, seed=0)
    assert np.bincount(labels[idx]).tolist() == [8, 8, 8]
    assert idx[: len(labels)].tolist() == list(range(len(labels)))
    np.testing.assert_array_equal(idx, pipeline.oversample(labels, seed=0))
    weights = pipeline.class_weights(labels)
    assert weights == pytest.approx({0: 14 / 24, 1: 14 / 6, 2: 14 / 12})


def test_subset_bounds():
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 3\)"):
        pipeline.Subset(Source(3), [0, 3])


def _as_lists(ds):
    return [{key: value.tolist() for key, value in batch.items()} for batch in ds]


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("drop_remainder", [True, False])
@pytest.mark.parametrize("process", [None, (0, 2), (1, 2)])
def test_encoded_examples_batch_like_the_per_example_pipeline(shuffle, drop_remainder, process):
    def transform(ex):
        return {"ids": ex["ids"] * 3, "label": np.int32(ex["x"] % 2), "x": ex["x"]}

    kw = dict(batch_size=6, seed=5, epoch=3, shuffle=shuffle, drop_remainder=drop_remainder, vocab_sizes={"ids": 200})
    if process:
        kw.update(process_index=process[0], process_count=process[1])
    encoded = pipeline.EncodedExamples.from_source(Source(47), transform)
    expected = _as_lists(pipeline.batches(Source(47), transform=transform, **kw))
    got = list(pipeline.batches(encoded, **kw))
    assert _as_lists(got) == expected and len(got) == len(expected) > 0
    assert [b["ids"].dtype for b in got] == [np.dtype(np.int32)] * len(got)
    assert [b["label"].dtype for b in got] == [np.dtype(np.int32)] * len(got)


def test_encoded_examples_checks_ids_resumes_and_refuses_ragged_examples():
    encoded = pipeline.EncodedExamples.from_source(Source(10))
    assert len(encoded) == 10 and encoded[3]["ids"].tolist() == [3, 4]
    with pytest.raises(ValueError, match=r"ids: token id 6 at index \(0, 1\) of the batch"):
        list(pipeline.batches(encoded, batch_size=5, shuffle=False, vocab_sizes={"ids": 6}))
    it = iter(pipeline.batches(encoded, batch_size=3, seed=1))
    next(it)
    state, rest = it.get_state(), [b["x"].tolist() for b in it]
    resumed = iter(pipeline.batches(encoded, batch_size=3, seed=1))
    resumed.set_state(state)
    assert [b["x"].tolist() for b in resumed] == rest
    with pytest.raises(ValueError, match="pad them to one shape"):
        pipeline.EncodedExamples.from_source(Source(3), lambda ex: {"ids": np.zeros(int(ex["x"]) + 1)})
    with pytest.raises(ValueError, match="same keys"):
        pipeline.EncodedExamples.from_source(Source(3), lambda ex: {"a": 1} if ex["x"] else {"b": 1})
    with pytest.raises(ValueError, match="source is empty"):
        pipeline.EncodedExamples.from_source(Source(0))
    with pytest.raises(ValueError, match="same number of rows"):
        pipeline.EncodedExamples({"a": np.zeros(3), "b": np.zeros(4)})

"""The text toolkit against the course's examples and Keras semantics."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import seqjax.text as sjt

COURSE = ["The cat sat on the mat.", "The dog ate my homework."]


def test_tokenizer_course_example():
    tok = sjt.Tokenizer().fit_on_texts(COURSE)
    assert tok.word_index == {
        "the": 1, "cat": 2, "sat": 3, "on": 4, "mat": 5, "dog": 6, "ate": 7, "my": 8, "homework": 9
    }
    assert tok.texts_to_sequences(COURSE) == [[1, 2, 3, 4, 1, 5], [1, 6, 7, 8, 9]]
    assert tok.word_counts["the"] == 3 and tok.document_count == 2
    assert tok.sequences_to_texts([[1, 2, 3, 0]]) == ["the cat sat"]


def test_tokenizer_num_words_and_oov():
    tok = sjt.Tokenizer(num_words=4, oov_token="<OOV>").fit_on_texts(COURSE)
    assert tok.word_index["<OOV>"] == 1 and tok.word_index["the"] == 2
    assert tok.texts_to_sequences(["the cat flew"]) == [[2, 3, 1]]  # cat=3 < 4, flew unknown
    assert tok.texts_to_sequences(["the mat"]) == [[2, 1]]  # mat=6 >= num_words
    plain = sjt.Tokenizer(num_words=3).fit_on_texts(COURSE)
    assert plain.texts_to_sequences(["the cat sat"]) == [[1, 2]]
    assert plain.vocab_size == 3


def test_texts_to_matrix_modes():
    tok = sjt.Tokenizer().fit_on_texts(COURSE)
    text = ["the the cat"]
    assert tok.texts_to_matrix(text, "binary")[0, :3].tolist() == [0, 1, 1]
    assert tok.texts_to_matrix(text, "count")[0, :3].tolist() == [0, 2, 1]
    np.testing.assert_allclose(tok.texts_to_matrix(text, "freq")[0, :3], [0, 2 / 3, 1 / 3])
    tfidf = tok.texts_to_matrix(text, "tfidf")[0]
    assert tfidf[1] == pytest.approx((1 + math.log(2)) * math.log(1 + 2 / (1 + 2)))
    assert tfidf[2] == pytest.approx(1 * math.log(1 + 2 / (1 + 1)))
    assert tok.texts_to_matrix(text).shape == (1, 10)
    with pytest.raises(ValueError, match="mode='tf' is not one of"):
        tok.texts_to_matrix(text, "tf")


def test_char_level():
    tok = sjt.Tokenizer(char_level=True).fit_on_texts(["abba"])
    assert tok.word_index == {"a": 1, "b": 2} and tok.texts_to_sequences(["ab"]) == [[1, 2]]


def test_tokenizer_json_round_trip(tmp_path):
    tok = sjt.Tokenizer(num_words=50, oov_token="<OOV>").fit_on_texts(COURSE + ["ümlaut café"])
    path = tmp_path / "tok" / "tokenizer.json"
    tok.save(path)
    back = sjt.Tokenizer.load(path)
    assert back.word_index == tok.word_index and back.word_counts == tok.word_counts
    assert back.texts_to_sequences(["café the zzz"]) == tok.texts_to_sequences(["café the zzz"])
    np.testing.assert_array_equal(back.texts_to_matrix(COURSE, "tfidf"), tok.texts_to_matrix(COURSE, "tfidf"))
    assert not list(tmp_path.rglob(".*tmp")), "no temporary file is left behind"


def test_tokenizer_errors(tmp_path):
    with pytest.raises(ValueError, match="call fit_on_texts"):
        sjt.Tokenizer().texts_to_sequences(["x"])
    with pytest.raises(TypeError, match="not one string"):
        sjt.Tokenizer().fit_on_texts("one string")
    with pytest.raises(ValueError, match="not a seqjax/Keras tokenizer JSON"):
        sjt.Tokenizer.from_json('{"config": {}}')
    bad = tmp_path / "bad.json"
    bad.write_bytes(b'{"x": "\xff"}')
    with pytest.raises(ValueError, match="not valid utf-8 text at byte 7"):
        sjt.Tokenizer.load(bad)


@pytest.mark.parametrize(
    "padding, truncating, expected",
    [
        ("pre", "pre", [[0, 0, 1, 2], [3, 4, 5, 6]]),
        ("post", "pre", [[1, 2, 0, 0], [3, 4, 5, 6]]),
        ("pre", "post", [[0, 0, 1, 2], [2, 3, 4, 5]]),
        ("post", "post", [[1, 2, 0, 0], [2, 3, 4, 5]]),
    ],
)
def test_pad_sequences_both_ways(padding, truncating, expected):
    out = sjt.pad_sequences([[1, 2], [2, 3, 4, 5, 6]], maxlen=4, padding=padding, truncating=truncating)
    assert out.tolist() == expected and out.dtype == np.int32


def test_pad_sequences_defaults_and_errors():
    assert sjt.pad_sequences([[1], [1, 2, 3], []]).tolist() == [[0, 0, 1], [1, 2, 3], [0, 0, 0]]
    assert sjt.pad_sequences([[1]], maxlen=3, value=-1).tolist() == [[-1, -1, 1]]
    with pytest.raises(ValueError, match="padding must be 'pre' or 'post'; got 'left'"):
        sjt.pad_sequences([[1]], padding="left")
    with pytest.raises(ValueError, match="truncating must be"):
        sjt.pad_sequences([[1]], truncating="x")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.integers(1, 99), max_size=12), min_size=1, max_size=6),
    st.integers(1, 10),
    st.sampled_from(["pre", "post"]),
    st.sampled_from(["pre", "post"]),
)
def test_pad_sequences_properties(seqs, maxlen, padding, truncating):
    out = sjt.pad_sequences(seqs, maxlen=maxlen, padding=padding, truncating=truncating)
    assert out.shape == (len(seqs), maxlen)
    for row, seq in zip(out, seqs):
        kept = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        nonzero = [int(v) for v in row if v != 0]
        assert nonzero == kept
        if padding == "pre":
            assert row[maxlen - len(kept):].tolist() == kept
        else:
            assert row[: len(kept)].tolist() == kept


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="abc de.", max_size=20), min_size=1, max_size=5))
def test_tokenizer_round_trip_property(texts):
    tok = sjt.Tokenizer().fit_on_texts(texts)
    seqs = tok.texts_to_sequences(texts)
    assert tok.sequences_to_texts(seqs) == [" ".join(sjt.text_to_word_sequence(t)) for t in texts]


def test_vectorize_and_to_categorical():
    out = sjt.vectorize_sequences([[1, 3, 3], []], dimension=5)
    assert out.tolist() == [[0, 1, 0, 1, 0], [0] * 5]
    with pytest.raises(ValueError, match=r"id 7 outside \[0, dimension=5\)"):
        sjt.vectorize_sequences([[7]], dimension=5)
    assert sjt.to_categorical([2, 0]).tolist() == [[0, 0, 1], [1, 0, 0]]
    assert sjt.to_categorical([1], num_classes=4).shape == (1, 4)
    with pytest.raises(ValueError, match="labels must lie in"):
        sjt.to_categorical([4], num_classes=3)


def test_one_hot_words_and_chars():
    samples = ["The cat sat on the mat.", "The dog ate my homework."]
    words, index = sjt.one_hot_words(samples, max_length=10)
    assert index["The"] == 1 and index["homework."] == 10 and words.shape == (2, 10, 11)
    assert words[1, 0, 1] == 1 and words.sum() == 11
    chars, cindex = sjt.one_hot_chars(samples, max_length=50)
    assert chars.shape == (2, 50, 101) and chars.sum() == len(samples[0]) + len(samples[1])
    assert chars[0, 0, cindex["T"]] == 1


def test_hashing_is_stable_and_keras_shaped():
    ids = sjt.hashing_trick("The cat sat", 10)
    assert ids == sjt.hashing_trick("the CAT sat", 10) and all(1 <= i < 10 for i in ids)
    assert sjt.stable_hash("cat") == int("d077f244def8a70e5ea758bd8352fcd8", 16)
    hashed = sjt.one_hot_hashed(["The cat sat on the mat."], dimensionality=1000, max_length=10)
    assert hashed.shape == (1, 10, 1000) and hashed.sum() == 6


def test_bag_of_2grams_course_example():
    assert sjt.bag_of_ngrams("The cat sat on the mat.", 2) == {
        "The", "The cat", "cat", "cat sat", "sat", "sat on", "on", "on the", "the", "the mat", "mat"
    }
    assert sjt.ngrams(["a", "b", "c"], 2) == [("a", "b"), ("b", "c")]


def test_clean_text():
    # digits and punctuation go first (so "you've" becomes "youve"), then the stopwords
    assert sjt.clean_text("Call me at 555-1234 NOW!!! You've won a prize.") == "call youve prize"
    assert sjt.clean_text("The  cat, the HAT", stopwords=frozenset()) == "the cat the hat"
    assert "the" in sjt.STOPWORDS and len(sjt.STOPWORDS) == 179


def test_glove_matrix(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_text("the 0.1 0.2 0.3\ncat 1 2 3\nunseen 9 9 9\nsat -1 -2 -3\n", encoding="utf-8")
    tok = sjt.Tokenizer().fit_on_texts(COURSE)
    matrix = sjt.load_glove(path, tok.word_index, num_words=4)
    assert matrix.shape == (4, 3) and matrix.dtype == np.float32
    np.testing.assert_allclose(matrix[1], [0.1, 0.2, 0.3])
    np.testing.assert_allclose(matrix[3], [-1, -2, -3])
    assert not matrix[0].any() and not sjt.load_glove(path, tok.word_index)[4].any()  # 'on' absent
    path.write_text("the 0.1 0.2 0.3\ncat 1 2\n")
    with pytest.raises(ValueError, match="line 2: expected 3 numbers"):
        sjt.load_glove(path, tok.word_index)
    path.write_bytes(b"the 0.1 0.2\ncat\xff 1 2\n")
    with pytest.raises(ValueError, match="line 2: not valid utf-8"):
        sjt.load_glove(path, tok.word_index)
    with pytest.raises(FileNotFoundError, match="no GloVe file"):
        sjt.load_glove(tmp_path / "none.txt", tok.word_index)

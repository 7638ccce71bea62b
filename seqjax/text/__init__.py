"""Text vectorization: a Keras-compatible tokenizer, padding, multi-hot, one-hot,
the hashing trick, n-grams, cleaning with shipped stopwords, and GloVe vectors."""

from seqjax.text.cleaning import STOPWORDS, clean_text
from seqjax.text.encoding import (
    bag_of_ngrams,
    hashing_trick,
    ngrams,
    one_hot_chars,
    one_hot_hashed,
    one_hot_words,
    stable_hash,
)
from seqjax.text.glove import load_glove
from seqjax.text.sequences import pad_sequences, to_categorical, vectorize_sequences
from seqjax.text.tokenizer import Tokenizer, text_to_word_sequence

__all__ = [
    "Tokenizer",
    "text_to_word_sequence",
    "pad_sequences",
    "vectorize_sequences",
    "to_categorical",
    "one_hot_words",
    "one_hot_chars",
    "one_hot_hashed",
    "hashing_trick",
    "stable_hash",
    "ngrams",
    "bag_of_ngrams",
    "clean_text",
    "STOPWORDS",
    "load_glove",
]

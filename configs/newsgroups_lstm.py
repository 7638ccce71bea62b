"""newsgroups_lstm: Tokenizer(5,000, OOV) -> padded at the end to 200 -> Embedding(5,000, 64) -> LSTM(64)
-> Dropout(0.5) -> Dense(32) relu -> Dense(2) softmax; Adam, sparse categorical cross-entropy.

Command: python scripts/train.py --config configs/newsgroups_lstm.py --workdir runs/newsgroups_lstm
comp.graphics + sci.med training posts, 20% test split (random_state 42), the last 20% of the rest
for validation, batch 64, 5 epochs. Expected: course test accuracy 0.817 (see docs/RESULTS.md).
Measured: seqjax 0.848 ± 0.062 (docs/RESULTS.md).
Wall time on this project's machine (2 CPU cores, data already prepared): about 11 s.
"""

from seqjax.train.config import apply_variant, base_config


def get_config(variant=None):
    c = base_config()
    c.task = "multiclass"
    c.epochs = 5
    c.batch_size = 64
    c.data.name = "newsgroups20"
    c.data.options.categories = ("comp.graphics", "sci.med")
    c.data.test_split = ""
    c.data.test_fraction = 0.2
    c.data.split_seed = 42
    c.data.validation_fraction = 0.2
    c.data.encoding = "tokenizer"
    c.data.field = "text"
    c.data.num_words = 5_000
    c.data.oov_token = "<OOV>"
    c.data.maxlen = 200
    c.data.padding = "post"
    c.data.truncating = "pre"
    c.model.kind = "rnn"
    c.model.embedding_dim = 64
    c.model.cell = "lstm"
    c.model.hidden_sizes = (64,)
    c.model.rnn_dropout = 0.5
    c.model.dense = (32,)
    c.model.num_outputs = 2
    c.optimizer.name = "adam"
    return apply_variant(c, variant, {})

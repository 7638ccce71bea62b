"""sst_lstm: SST-2 tokens -> Embedding(4,823, 32) -> LSTM(32) -> Dense(2) softmax; Adam, batch 150, 6 epochs.

Command: python scripts/train.py --config configs/sst_lstm.py --workdir runs/sst_lstm
Data: the course's ``sst2_lab`` CSVs (``--config.data.manual_dir=../shared/data``).
Variants: ``:masked`` (padding masked out), ``:improved`` (masked bidirectional LSTM).
Expected: course 0.803 test accuracy (see docs/RESULTS.md). Parameters: 162,722 (154,336 / 8,320 / 66).
Measured: seqjax 0.800 ± 0.005 (10 seeds) (docs/RESULTS.md).
Wall time on this project's machine (2 CPU cores, data already prepared): about 17 s.
"""

from seqjax.train.config import apply_variant, base_config


def get_config(variant=None):
    c = base_config()
    c.task = "multiclass"
    c.epochs = 6
    c.batch_size = 150
    c.data.name = "sst2_lab"
    c.data.encoding = "tokens"
    c.data.field = "tokens"
    c.data.maxlen = 55
    c.data.padding = "post"
    c.model.kind = "rnn"
    c.model.embedding_dim = 32
    c.model.cell = "lstm"
    c.model.hidden_sizes = (32,)
    c.model.num_outputs = 2
    c.optimizer.name = "adam"
    improved = {"model.mask_zero": True, "model.bidirectional": True}  # masked bidirectional LSTM
    return apply_variant(c, variant, {"masked": {"model.mask_zero": True}, "improved": improved})

"""reuters_mlp: multi-hot 10,000 -> Dense(64) relu -> Dense(64) relu -> Dense(46) softmax; RMSprop, batch 512.

Command: python scripts/train.py --config configs/reuters_mlp.py --workdir runs/reuters_mlp
  (20 epochs, the first 1,000 training newswires held out for validation)
Final: python scripts/train.py --config configs/reuters_mlp.py:final --workdir runs/reuters_mlp_final
  (retrained 11 epochs on all 8,982 newswires)
Integer labels by default; ``--config.data.one_hot=...`` is not needed: the loss takes one-hot labels too.
Expected: course test accuracy 0.7961 (see docs/RESULTS.md).
Measured: seqjax 0.884 ± 0.002 (docs/RESULTS.md).
Wall time on this project's machine (2 CPU cores, data already prepared): about 46 s for ``:final``.
"""

from seqjax.train.config import apply_variant, base_config


def get_config(variant=None):
    c = base_config()
    c.task = "multiclass"
    c.epochs = 20
    c.batch_size = 512
    c.data.name = "reuters46"
    c.data.encoding = "tokenizer"
    c.data.field = "text"
    c.data.num_words = 10_000
    c.data.multi_hot = True
    c.data.validation_count = 1_000
    c.model.kind = "mlp"
    c.model.dense = (64, 64)
    c.model.num_outputs = 46
    c.optimizer.name = "rmsprop"
    return apply_variant(c, variant, {"final": {"epochs": 11, "data.validation_count": 0}})

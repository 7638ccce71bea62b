"""jena_dense: the course's densely connected forecaster, Flatten(240 x 21) -> Dense(32) relu -> Dense(1);
RMSprop, MAE loss.

Same data and protocol as configs/jena_gru.py (10 days hourly -> temperature 24 h
ahead, Jena 2020 rows split 50 / 25 / 25 % in time order, best validation MAE tested).

Command: python scripts/train.py --config configs/jena_dense.py --workdir runs/jena_dense
Expected and measured results, wall time on 2 CPU cores: docs/RESULTS.md (temperature forecasting).
"""

from seqjax.train.config import apply_variant, base_config


def get_config(variant=None):
    c = base_config()
    c.task = "regression"
    c.loss = "mae"
    c.epochs = 20
    c.batch_size = 128
    c.data.name = "jena_weather"
    c.data.encoding = "values"
    c.data.field = "inputs"
    c.data.label_field = "change"  # the 24 h change: a residual over the baseline (see docs/RESULTS.md)
    c.model.kind = "mlp"
    c.model.dense = (32,)
    c.model.num_outputs = 1
    c.optimizer.name = "rmsprop"
    c.early_stopping.enabled = True
    c.early_stopping.patience = 6
    return apply_variant(c, variant, {})

"""jena_dense: the course's densely connected forecaster, Flatten(240 x 21) -> Dense(32) relu -> Dense(1);
RMSprop, MAE loss.

Same data and protocol as configs/jena_gru.py (10 days hourly -> temperature 24 h
ahead, Jena 2020 rows split 50 / 25 / 25 % in time order, best validation MAE tested).

Command: python scripts/train.py --config configs/jena_dense.py --workdir runs/jena_dense
Expected and measured results, wall time on 2 CPU cores: docs/RESULTS.md (temperature forecasting).
"""

from seqjax.train.config import apply_variant, base_config, jena_forecast


def get_config(variant=None):
    c = jena_forecast(base_config())
    c.epochs = 20
    c.model.kind = "mlp"
    c.model.dense = (32,)
    c.early_stopping.patience = 6
    return apply_variant(c, variant, {})

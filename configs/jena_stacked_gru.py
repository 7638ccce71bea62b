"""jena_stacked_gru: the course's stacked GRU forecaster, GRU(32) -> GRU(64) -> Dense(1), both with
dropout 0.1 and recurrent dropout 0.5; RMSprop, MAE loss.

Same data and protocol as configs/jena_gru.py (10 days hourly -> temperature 24 h
ahead, Jena 2020 rows split 50 / 25 / 25 % in time order, best validation MAE tested).

Command: python scripts/train.py --config configs/jena_stacked_gru.py --workdir runs/jena_stacked_gru
Expected and measured results, wall time on 2 CPU cores: docs/RESULTS.md (temperature forecasting).
"""

from seqjax.train.config import apply_variant, base_config, jena_forecast


def get_config(variant=None):
    c = jena_forecast(base_config())
    c.epochs = 30
    c.model.kind = "rnn"
    c.model.cell = "gru"
    c.model.hidden_sizes = (32, 64)
    c.model.input_dropout = 0.1
    c.model.recurrent_dropout = 0.5
    c.early_stopping.patience = 10
    return apply_variant(c, variant, {})

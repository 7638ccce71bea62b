"""jena_gru: temperature 24 h ahead from 10 days of hourly history -> GRU(32) -> Dense(1); RMSprop, MAE loss.

The course's "temperature forecasting" chapter on the Jena weather station (here the
2020 records, ``jena/jena_weather_2020.csv.gz``): windows of 240 hourly rows of the 21
normalised measurements, target ``T (degC)`` 144 rows (24 h) after the last one;
rows split in time order 50 / 25 / 25 % (train / validation / test). The model
with the lowest validation MAE is tested; metrics.json gives the test MAE next to
the common-sense baseline's (the temperature 24 h before) and plots/forecast_week.png
a week of predictions against the truth.

Command: python scripts/train.py --config configs/jena_gru.py --workdir runs/jena_gru
Variants: ``:dropout`` (dropout 0.2, recurrent dropout 0.2), ``:bidirectional``,
``:min_gru`` (the parallel-scan minGRU(32)); the stacked GRU is configs/jena_stacked_gru.py,
the dense model configs/jena_dense.py.
Expected and measured results, wall time on 2 CPU cores: docs/RESULTS.md (temperature forecasting).
"""

from seqjax.train.config import apply_variant, base_config, jena_forecast


def get_config(variant=None):
    c = jena_forecast(base_config())
    c.epochs = 20
    c.model.kind = "rnn"
    c.model.cell = "gru"
    c.model.hidden_sizes = (32,)
    c.early_stopping.patience = 6
    variants = {
        "dropout": {"model.input_dropout": 0.2, "model.recurrent_dropout": 0.2, "epochs": 30,
                    "early_stopping.patience": 10},
        "bidirectional": {"model.bidirectional": True},
        "min_gru": {"model.cell": "min_gru"},
    }
    return apply_variant(c, variant, variants)

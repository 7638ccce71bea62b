"""shapes_lstm: 55x1 curve -> LSTM(32) -> Dense(3) softmax; Adam, batch 20, 10 epochs.

Command: python scripts/train.py --config configs/shapes_lstm.py --workdir runs/shapes_lstm
Data: the generated ``shape_curves`` (no file needed); the course's CSVs with
``--config.data.name=shape_curves_lab``.
Expected: course 0.928 test accuracy on the lab CSVs. Measured results and wall
time on 2 CPU cores: docs/RESULTS.md. Parameters: 4,451 (4,352 / 99).
Measured: seqjax 0.990 ± 0.015 on the lab CSVs (docs/RESULTS.md).
Wall time on this project's machine (2 CPU cores, data already prepared): about 10 s (generated data) / 8 s (lab CSVs).
"""

from seqjax.train.config import apply_variant, base_config


def get_config(variant=None):
    c = base_config()
    c.task = "multiclass"
    c.epochs = 10
    c.batch_size = 20
    c.data.name = "shape_curves"
    c.data.encoding = "values"
    c.data.field = "curve"
    c.model.kind = "rnn"
    c.model.cell = "lstm"
    c.model.hidden_sizes = (32,)
    c.model.num_outputs = 3
    c.optimizer.name = "adam"
    return apply_variant(c, variant, {"lab": {"data.name": "shape_curves_lab"}})

"""imdb_min_gru: the parallel-scan minGRU on a course task: Embedding(10,000, 32) -> minGRU(64) -> Dense(1)
sigmoid on the first 500 words; RMSprop.

minGRU (Feng et al. 2024) is linear in its state, so on an accelerator it trains as a
log-depth ``lax.associative_scan`` over the 500 steps; on the CPU ``sj.scan`` steps it
(measured faster there: docs/BENCHMARKS.md), with the same outputs. Post-padding with the padding masked, so the
final state is the one after each review's last word. 10 epochs, batch 128, the last
20% of the training reviews for validation (the imdb_lstm protocol).

Variant ``:bidirectional``: a backward minGRU too, whose final state ends on the first words.

Command: python scripts/train.py --config configs/imdb_min_gru.py --workdir runs/imdb_min_gru
Expected (no course figure; the LSTM's is 0.89) and measured results, wall time on 2 CPU cores:
docs/RESULTS.md (parallel-scan cells).
"""

from seqjax.train.config import apply_variant, base_config, imdb_ids


def get_config(variant=None):
    c = imdb_ids(base_config(), maxlen=500, padding="post")
    c.epochs = 10
    c.model.kind = "rnn"
    c.model.embedding_dim = 32
    c.model.mask_zero = True
    c.model.cell = "min_gru"
    c.model.hidden_sizes = (64,)
    c.optimizer.name = "rmsprop"
    return apply_variant(c, variant, {"bidirectional": {"model.bidirectional": True}})

"""Training and evaluating a sequence-to-sequence config (``config.task == "seq2seq"``).

The same run directory as the classifiers: ``config.json``, ``history.csv``,
``metrics.json`` (exact-sequence accuracy of greedy and beam-search decoding on the
held-out test dates, token accuracy, wall time, devices), ``plots/`` (loss, accuracy,
``attention.png``: the attention heat map of one test example) and ``checkpoints/``
(Orbax, every epoch; the same command on the same workdir resumes from the last one).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from seqjax import attention as sj_attention
from seqjax.data import dates
from seqjax.data.pipeline import EncodedExamples, batches
from seqjax.nn.recurrent import make_cell
from seqjax.seq2seq import seq2seq, sequence_loss
from seqjax.train import reports
from seqjax.train.checkpoints import Checkpoints
from seqjax.train.fit import NonFiniteLossError
from seqjax.train.optimizers import make_optimizer
from seqjax.train.state import TrainState

ATTENTIONS = ("additive", "dot", "general", "none")
FIELDS = ("source", "source_length", "target")


def validate(config: ml_collections.ConfigDict) -> None:
    """Raises ``ValueError`` naming every impossible field of a seq2seq config."""
    problems = []
    for name in ("epochs", "batch_size", "data.train_examples", "data.validation_examples", "data.test_examples",
                 "model.hidden_size", "model.embedding_dim", "decode.beam_size"):
        value = config
        for part in name.split("."):
            value = value[part]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(f"{name} must be a positive int; got {value!r}")
    if config.data.name != "dates":
        problems.append(f"data.name={config.data.name!r}: the seq2seq task generates 'dates'")
    if config.model.attention not in ATTENTIONS:
        problems.append(f"model.attention={config.model.attention!r} is not one of {ATTENTIONS}")
    if problems:
        raise ValueError("invalid config:\n  " + "\n  ".join(problems))


def build(config: ml_collections.ConfigDict):
    """The :class:`~seqjax.seq2seq.Seq2Seq` model of ``config.model``."""
    m = config.model
    attention = None
    if m.attention != "none":
        factory = sj_attention.SCORES[m.attention]
        attention = factory(m.attention_units) if m.attention == "additive" else factory()
    return seq2seq(make_cell(m.cell, m.hidden_size), source_vocab=len(dates.SOURCE_VOCAB) + 1,
                   target_vocab=len(dates.TARGET_VOCAB) + 3, embedding_dim=m.embedding_dim, attention=attention,
                   bos_id=dates.BOS, eos_id=dates.EOS)


def _arrays(example: dict) -> dict:
    return {k: example[k] for k in FIELDS}


def _evaluate(model, params, source, batch_size: int, beam_size: int = 0) -> dict:
    """Exact-sequence and token accuracy of greedy (and beam-search) decoding over ``source``
    (:class:`~seqjax.data.pipeline.EncodedExamples` of ``FIELDS``)."""
    greedy = jax.jit(model.greedy, static_argnums=3)
    beam = jax.jit(model.beam_search, static_argnums=(3, 4))
    exact, beam_exact, tokens_right, count = 0, 0, 0, 0
    for batch in batches(source, batch_size=batch_size, shuffle=False):
        target = batch["target"]
        out, _ = greedy(params, batch["source"], batch["source_length"], dates.TARGET_LENGTH)
        out = np.asarray(out)
        exact += int((out == target).all(axis=1).sum())
        tokens_right += int((out == target).sum())
        count += len(target)
        if beam_size:
            best, _ = beam(params, batch["source"], batch["source_length"], dates.TARGET_LENGTH, beam_size)
            beam_exact += int((np.asarray(best) == target).all(axis=1).sum())
    results = {"exact_match": exact / count, "token_accuracy": tokens_right / (count * dates.TARGET_LENGTH)}
    if beam_size:
        results["beam_exact_match"] = beam_exact / count
    return results


def plot_attention(model, params, example: dict, path: Path) -> Path:
    """Heat map of the attention weights (output characters x source characters) for one example."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tokens, weights = jax.jit(model.greedy, static_argnums=3)(
        params, example["source"][None], example["source_length"][None], dates.TARGET_LENGTH)
    text, n = example["text"], int(example["source_length"])
    out = dates.decode_target(tokens[0])
    rows = len(out) + 1  # the characters and the end token
    fig, ax = plt.subplots(figsize=(max(5, 0.32 * n + 1.5), 0.35 * rows + 1.5))
    ax.imshow(np.asarray(weights[0, :rows, :n]), cmap="viridis", aspect="auto", vmin=0, vmax=1)
    ax.set_xticks(range(n), list(text))
    ax.set_yticks(range(rows), list(out) + ["<end>"])
    ax.set_xlabel("source characters")
    ax.set_ylabel("output characters")
    ax.set_title(f"{text!r} -> {out!r}", fontsize=10)
    reports._save_figure(fig, path)
    plt.close(fig)
    return path


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
    """Trains the seq2seq ``config`` in ``workdir`` (resuming from its last checkpoint) and
    evaluates the best-validation model on the held-out test dates. Returns ``metrics.json``."""
    start = time.perf_counter()
    validate(config)
    workdir = Path(workdir)
    try:
        (workdir / "plots").mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PermissionError(f"workdir {workdir} is not writable ({err.strerror}); choose another --workdir.") from None
    reports.write_json(workdir / "config.json", json.loads(config.to_json()))
    d = config.data
    # generated and held once, then batched by index every epoch (EncodedExamples)
    train = EncodedExamples.from_source(dates.DatePairs("train", d.train_examples, config.seed), _arrays)
    validation = EncodedExamples.from_source(dates.DatePairs("validation", d.validation_examples, config.seed), _arrays)
    test_pairs = dates.DatePairs("test", d.test_examples, config.seed)  # with the text, for the attention plot
    test = EncodedExamples.from_source(test_pairs, _arrays)

    model = build(config)
    tx = make_optimizer(config)
    params = model.init(jax.random.key(config.seed))
    state = TrainState(jnp.zeros((), jnp.int32), params, {}, tx.init(params))

    def train_step(state: TrainState, batch: dict):
        def loss_fn(p):
            logits, _ = model.teacher_forcing(p, batch["source"], batch["source_length"], batch["target"])
            return sequence_loss(logits, batch["target"])

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = jax.tree.map(jnp.add, state.params, updates)
        return TrainState(state.step + 1, params, state.frozen, opt_state), loss

    step = jax.jit(train_step, donate_argnums=0)
    checkpoints = Checkpoints(workdir / "checkpoints", monitor="val_exact_match", mode="max",
                              max_to_keep=config.checkpoint.max_to_keep)
    history: dict[str, list[float]] = {}
    try:
        restored = checkpoints.restore_latest(state)
        if restored is not None:
            state, meta = restored
            history = {k: list(v) for k, v in meta["history"].items()}
        first_epoch = len(history.get("loss", []))
        for epoch in range(first_epoch, config.epochs):
            losses = []
            epoch_batches = batches(train, batch_size=config.batch_size, seed=config.seed, epoch=epoch,
                                    drop_remainder=True)
            if config.progress:
                from tqdm.auto import tqdm

                epoch_batches = tqdm(epoch_batches, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False)
            for i, batch in enumerate(epoch_batches):
                state, loss = step(state, batch)
                losses.append(loss)
            epoch_loss = float(np.mean(jax.device_get(losses)))
            if not np.isfinite(epoch_loss):
                raise NonFiniteLossError(f"the training loss became {epoch_loss} in epoch {epoch + 1}; "
                                         "the last good checkpoint is kept. Lower optimizer.learning_rate "
                                         "or set optimizer.clip_norm.")
            val = _evaluate(model, state.params, validation, config.batch_size)
            for key, value in {"loss": epoch_loss, "val_exact_match": val["exact_match"],
                               "val_token_accuracy": val["token_accuracy"]}.items():
                history.setdefault(key, []).append(value)
            checkpoints.save(epoch + 1, state, {"history": history}, {"val_exact_match": val["exact_match"]})
            print(f"epoch {epoch + 1}/{config.epochs}: loss {epoch_loss:.4f}, "
                  f"validation exact match {val['exact_match']:.4f}", flush=True)
        best = checkpoints.restore_best(state)
        if best is not None:
            state = best[0]
    finally:
        checkpoints.close()

    results = _evaluate(model, state.params, test, config.batch_size, beam_size=config.decode.beam_size)
    results.update({
        "best_val_exact_match": max(history["val_exact_match"]) if history else None,
        "epochs_trained": len(history.get("loss", [])),
        "test_examples": len(test),
        "parameters": int(sum(np.size(x) for x in jax.tree.leaves(state.params))),
        "devices": jax.device_count(),
        "platform": jax.devices()[0].platform,
        "wall_time_s": round(time.perf_counter() - start, 2),
    })
    reports.write_history_csv(workdir / "history.csv", history)
    reports.plot_history({"loss": history["loss"]}, workdir / "plots")
    if config.model.attention != "none":
        plot_attention(model, state.params, test_pairs[0], workdir / "plots" / "attention.png")
    reports.write_json(workdir / "metrics.json", results)
    return {**results, "workdir": str(workdir)}


def translate(workdir: str | Path, texts: list[str], beam_size: int = 0) -> list[str]:
    """Dates as people write them -> ISO dates, with the best checkpoint of a finished run."""
    workdir = Path(workdir)
    config = ml_collections.ConfigDict(json.loads((workdir / "config.json").read_text()))
    model = build(config)
    params = model.init(jax.random.key(0))
    template = TrainState(jnp.zeros((), jnp.int32), params, {}, make_optimizer(config).init(params))
    checkpoints = Checkpoints(workdir / "checkpoints", monitor="val_exact_match", mode="max")
    try:
        restored = checkpoints.restore_best(template)
    finally:
        checkpoints.close()
    if restored is None:
        raise FileNotFoundError(f"{workdir / 'checkpoints'} holds no complete checkpoint to load.")
    params = restored[0].params
    source = np.stack([dates.encode_source(t) for t in texts])
    lengths = np.array([len(t) for t in texts], np.int32)
    if beam_size:
        tokens, _ = model.beam_search(params, source, lengths, dates.TARGET_LENGTH, beam_size)
    else:
        tokens, _ = model.greedy(params, source, lengths, dates.TARGET_LENGTH)
    return [dates.decode_target(t) for t in np.asarray(tokens)]

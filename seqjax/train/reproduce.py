"""Reproducing the course's figures: which config, which metric, what the course got.

:func:`run` trains an experiment from its committed config (one run per seed)
and returns one row per run; :func:`results_table` renders the rows as the
Markdown table of ``docs/RESULTS.md``.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parents[2]


class Experiment(NamedTuple):
    """``config``: file stem; ``variant``: ``:variant`` or ``""``; ``metric``: what the
    course reports (``test_accuracy``, ``val_accuracy`` = best validation accuracy, ...);
    ``course``: the course's figures; ``label``: a row label."""

    config: str
    variant: str
    metric: str
    course: dict[str, float]
    label: str


EXPERIMENTS: dict[str, Experiment] = {
    "imdb_mlp": Experiment("imdb_mlp", "final", "test_accuracy", {"accuracy": 0.8788},
                           "IMDB multi-hot MLP, retrained 5 epochs on all 25,000"),
    "reuters_mlp": Experiment("reuters_mlp", "final", "test_accuracy", {"accuracy": 0.7961},
                              "Reuters 46 topics MLP, retrained 11 epochs"),
    "imdb_embedding_flatten": Experiment("imdb_embedding_flatten", "", "val_accuracy", {"val_accuracy": 0.76},
                                         "IMDB Embedding + Flatten, first 20 words"),
    "imdb_simple_rnn": Experiment("imdb_simple_rnn", "", "val_accuracy", {"val_accuracy": 0.85},
                                  "IMDB SimpleRNN, first 500 words"),
    "imdb_lstm": Experiment("imdb_lstm", "", "val_accuracy", {"val_accuracy": 0.89}, "IMDB LSTM, first 500 words"),
    "sms_spam_lstm": Experiment("sms_spam_lstm", "", "test_accuracy",
                                {"accuracy": 0.955, "precision": 0.772, "recall": 0.927, "f1": 0.842},
                                "SMS spam, stacked LSTM"),
    "newsgroups_lstm": Experiment("newsgroups_lstm", "", "test_accuracy", {"accuracy": 0.817},
                                  "20 Newsgroups (graphics vs med) LSTM, 5 epochs"),
    "shapes_mlp": Experiment("shapes_mlp", "lab", "test_accuracy", {"accuracy": 0.693}, "Shape curves MLP (lab CSVs)"),
    "shapes_lstm": Experiment("shapes_lstm", "lab", "test_accuracy", {"accuracy": 0.928}, "Shape curves LSTM (lab CSVs)"),
    "sst_lstm": Experiment("sst_lstm", "", "test_accuracy", {"accuracy": 0.803}, "SST-2 LSTM (lab CSVs)"),
    "imdb_glove": Experiment("imdb_glove", "", "test_accuracy", {"accuracy": 0.56},
                             "IMDB frozen GloVe, 200 training samples"),
}


def load_config(name: str, variant: str = ""):
    """``configs/<name>.py``'s ``get_config(variant)``."""
    path = ROOT / "configs" / f"{name}.py"
    if not path.is_file():
        raise ValueError(f"no config {path}; known: {sorted(p.stem for p in (ROOT / 'configs').glob('*.py'))}.")
    spec = importlib.util.spec_from_file_location(f"seqjax_configs.{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(variant or None)


def command(exp: Experiment, seed: int, manual_dir: str, workdir: str) -> str:
    config = f"configs/{exp.config}.py" + (f":{exp.variant}" if exp.variant else "")
    return (f"python scripts/train.py --config {config} --config.seed={seed} "
            f"--config.data.manual_dir={manual_dir} --workdir {workdir}")


def run(name: str, *, seed: int, manual_dir: str, workdir_root: str | Path, variant: str | None = None,
        progress: bool = False) -> dict[str, Any]:
    """Trains ``name`` (its committed config) with ``seed`` and returns the result row."""
    from seqjax.train.experiment import train_and_evaluate

    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(sorted(EXPERIMENTS))}.")
    exp = EXPERIMENTS[name]
    if variant is not None:
        exp = exp._replace(variant=variant)
    config = load_config(exp.config, exp.variant)
    config.seed = seed
    config.data.manual_dir = str(manual_dir)
    config.progress = progress
    tag = f"{exp.config}{'_' + exp.variant if exp.variant else ''}_seed{seed}"
    workdir = Path(workdir_root) / tag
    metrics = train_and_evaluate(config, workdir)
    history = _read_history(workdir / "history.csv")
    row = {
        "experiment": name,
        "variant": exp.variant,
        "seed": seed,
        "epochs": metrics["epochs_trained"],
        "wall_time_s": metrics["wall_time_s"],
        "test": {k: metrics[k] for k in ("accuracy", "precision", "recall", "f1", "macro_f1", "mae") if k in metrics},
        "command": command(exp, seed, manual_dir, str(workdir)),
        "workdir": str(workdir),
    }
    if "val_accuracy" in history:
        row["val_accuracy_best"] = max(history["val_accuracy"])
        row["val_accuracy_last"] = history["val_accuracy"][-1]
    return row


def _read_history(path: Path) -> dict[str, list[float]]:
    lines = path.read_text().splitlines()
    keys = lines[0].split(",")[1:]
    columns: dict[str, list[float]] = {k: [] for k in keys}
    for line in lines[1:]:
        for key, value in zip(keys, line.split(",")[1:]):
            if value:
                columns[key].append(float(value))
    return columns


def headline(row: dict[str, Any], metric: str) -> float:
    """The figure compared with the course's: best validation or test accuracy."""
    return row["val_accuracy_best"] if metric == "val_accuracy" else row["test"]["accuracy"]


def _spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f} (n={len(values)})"


def results_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: one line per (experiment, variant) with mean and spread over seeds."""
    groups: dict[tuple[str, str], list[dict]] = {}
    seen = set()
    for row in rows:  # a run repeated (e.g. resumed after it finished) counts once
        key = (row["experiment"], row["variant"], row["seed"])
        if key not in seen:
            seen.add(key)
            groups.setdefault((row["experiment"], row["variant"]), []).append(row)
    lines = [
        "| experiment | metric | course | seqjax | epochs | wall time / run (2 CPU cores) | command (seed 0) |",
        "|---|---|---|---|---|---|---|",
    ]
    for (name, variant), group in sorted(groups.items()):
        exp = EXPERIMENTS[name]
        course = exp.course.get("accuracy", exp.course.get("val_accuracy"))
        metric = "best val accuracy" if exp.metric == "val_accuracy" else "test accuracy"
        label = name + (f" `:{variant}`" if variant and variant != exp.variant else "")
        values = [headline(r, exp.metric) for r in group]
        wall = statistics.median(r["wall_time_s"] for r in group)
        first = min(group, key=lambda r: r["seed"])
        lines.append(
            f"| {label} | {metric} | {course} | {_spread(values)} | {first['epochs']} | {wall:.0f} s | "
            f"`{first['command']}` |"
        )
    return "\n".join(lines)


def append_rows(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Appends rows to a JSON-lines file (one run per line)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, sort_keys=True) + "\n")


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def export_plots(rows: list[dict[str, Any]], destination: str | Path, seed: int = 0) -> list[Path]:
    """Copies the learning-curve PNGs of each experiment's ``seed`` run to ``destination``
    as ``<experiment>[_<variant>]_<plot>.png``."""
    import shutil

    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    copied = []
    for row in rows:
        if row["seed"] != seed:
            continue
        tag = row["experiment"] + (f"_{row['variant']}" if row["variant"] else "")
        for png in sorted((Path(row["workdir"]) / "plots").glob("*.png")):
            target = destination / f"{tag}_{png.name}"
            shutil.copyfile(png, target)
            copied.append(target)
    return copied

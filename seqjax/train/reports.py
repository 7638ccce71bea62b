"""The run directory's reports: JSON, the history CSV and PNG plots, written atomically."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from seqjax._io import atomic_write_text  # noqa: F401  (re-exported for the run directory)


def write_json(path: str | Path, data: Any) -> None:
    """Pretty JSON, atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def write_history_csv(path: str | Path, history: dict[str, list[float]]) -> None:
    """One row per epoch: ``epoch, loss, accuracy, val_loss, ...``."""
    keys = list(history)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["epoch", *keys])
    for epoch in range(max((len(v) for v in history.values()), default=0)):
        writer.writerow([epoch + 1, *(history[k][epoch] if epoch < len(history[k]) else "" for k in keys)])
    atomic_write_text(path, buffer.getvalue())


def _save_figure(fig, path: Path) -> None:
    """Saves a figure through a temporary file and a rename."""
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=100, bbox_inches="tight")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def plot_history(history: dict[str, list[float]], directory: str | Path) -> list[Path]:
    """``loss.png`` and, where recorded, ``accuracy.png`` / ``mae.png``: training vs validation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for metric in ("loss", "accuracy", "mae"):
        if metric not in history:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        epochs = range(1, len(history[metric]) + 1)
        ax.plot(epochs, history[metric], "o-", label=f"training {metric}")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], "s--", label=f"validation {metric}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(f"Training and validation {metric}")
        ax.legend()
        path = Path(directory) / f"{metric}.png"
        _save_figure(fig, path)
        plt.close(fig)
        written.append(path)
    return written


def plot_forecast(predictions: np.ndarray, targets: np.ndarray, path: str | Path, *, steps_per_hour: int = 6,
                  hours: int = 24 * 7, baseline_mae: float | None = None) -> Path:
    """Predictions against the truth for the first week of consecutive test windows.

    ``predictions`` and ``targets`` are ``[N]`` in time order, one window per row
    (``steps_per_hour`` rows an hour).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(len(targets), hours * steps_per_hour)
    t = np.arange(n) / steps_per_hour
    pred, true = np.asarray(predictions)[:n].reshape(-1), np.asarray(targets)[:n].reshape(-1)
    fig, ax = plt.subplots(figsize=(9, 4))
    ax.plot(t, true, label="truth", color="black", linewidth=1.2)
    ax.plot(t, pred, label=f"prediction (MAE {np.abs(pred - true).mean():.2f})", color="tab:orange", linewidth=1.0)
    title = "Temperature 24 h ahead: first week of the test part"
    if baseline_mae is not None:
        title += f" (baseline MAE on all of it {baseline_mae:.2f})"
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("hours from the start of the test part")
    ax.set_ylabel("T (degC)")
    ax.legend()
    _save_figure(fig, Path(path))
    plt.close(fig)
    return Path(path)


def plot_confusion(matrix: Sequence[Sequence[int]], class_names: Sequence[str], path: str | Path) -> Path:
    """A labelled confusion-matrix heat map (rows true, columns predicted)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(matrix)
    names = list(class_names) or [str(i) for i in range(len(cm))]
    size = max(4, 0.5 * len(cm) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(cm)), names, rotation=90 if len(cm) > 6 else 0)
    ax.set_yticks(range(len(cm)), names)
    if len(cm) <= 12:
        for i in range(len(cm)):
            for j in range(len(cm)):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                        color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("Confusion matrix (test)")
    path = Path(path)
    _save_figure(fig, path)
    plt.close(fig)
    return path

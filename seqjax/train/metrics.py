"""Epoch-level metrics on NumPy predictions: accuracy, precision / recall / F1,
macro F1, confusion matrices, MAE."""

from __future__ import annotations

import numpy as np


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """``[num_classes, num_classes]`` counts; rows are true labels, columns predictions."""
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (np.asarray(labels, np.int64), np.asarray(predictions, np.int64)), 1)
    return matrix


def _safe_div(a: float, b: float) -> float:
    return float(a) / float(b) if b else 0.0


def binary_metrics(labels: np.ndarray, probs: np.ndarray, threshold: float = 0.5) -> dict:
    """Accuracy, precision, recall, F1 (positive class 1) and the confusion matrix."""
    labels = np.asarray(labels, np.int64)
    predictions = (np.asarray(probs) >= threshold).astype(np.int64)
    cm = confusion_matrix(labels, predictions, 2)
    tp, fp, fn = cm[1, 1], cm[0, 1], cm[1, 0]
    precision, recall = _safe_div(tp, tp + fp), _safe_div(tp, tp + fn)
    return {
        "accuracy": _safe_div(np.trace(cm), cm.sum()),
        "precision": precision,
        "recall": recall,
        "f1": _safe_div(2 * precision * recall, precision + recall),
        "confusion_matrix": cm.tolist(),
    }


def multiclass_metrics(labels: np.ndarray, probs: np.ndarray) -> dict:
    """Accuracy, macro F1 and the confusion matrix; ``probs [N, C]``."""
    probs = np.asarray(probs)
    num_classes = probs.shape[-1]
    cm = confusion_matrix(labels, probs.argmax(-1), num_classes)
    tp = np.diag(cm).astype(float)
    precision = np.divide(tp, cm.sum(0), out=np.zeros_like(tp), where=cm.sum(0) > 0)
    recall = np.divide(tp, cm.sum(1), out=np.zeros_like(tp), where=cm.sum(1) > 0)
    f1 = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp), where=(precision + recall) > 0)
    present = cm.sum(1) > 0
    return {
        "accuracy": _safe_div(tp.sum(), cm.sum()),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "f1": float(f1[present].mean()) if present.any() else 0.0,
        "confusion_matrix": cm.tolist(),
    }


def regression_metrics(targets: np.ndarray, predictions: np.ndarray) -> dict:
    """Mean absolute error (in the targets' unit) and mean squared error."""
    err = np.asarray(predictions, np.float64).reshape(-1) - np.asarray(targets, np.float64).reshape(-1)
    return {"mae": float(np.abs(err).mean()), "mse": float((err**2).mean())}

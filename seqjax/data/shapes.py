"""Curve-shape time series: 55 values drawing a square, triangle or ellipse.

``shape_curves`` generates them (the library's embedded default: no file needed);
``shape_curves_lab`` reads the course's own CSVs. Both yield
``{"curve": float32 [55], "label": 0 square | 1 triangle | 2 ellipse}``.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from seqjax.data._builder import Builder, Config, course_lab_sources, csv_rows, parse_float, read_text

CLASS_NAMES = ("square", "triangle", "ellipse")
LENGTH = 55


def _features(length: int) -> tfds.features.FeaturesDict:
    return tfds.features.FeaturesDict(
        {
            "curve": tfds.features.Tensor(shape=(length,), dtype=np.float32),
            "label": tfds.features.ClassLabel(names=CLASS_NAMES),
        }
    )


def draw_curve(kind: int, start: int, width: int, length: int = LENGTH) -> np.ndarray:
    """One curve ``[length]``: shape ``kind`` of height 1 on ``[start, start + width)``.

    Square: ones. Triangle: rises linearly to 1 at the centre and falls back.
    Ellipse: the upper half ``sqrt(1 - u^2)`` with ``u`` from -1 to 1 across the width.
    """
    curve = np.zeros(length, np.float32)
    positions = np.arange(width, dtype=np.float64)
    u = (positions + 0.5) / width * 2.0 - 1.0  # in (-1, 1), symmetric about the centre
    if kind == 0:
        values = np.ones(width)
    elif kind == 1:
        values = 1.0 - np.abs(u)
    elif kind == 2:
        values = np.sqrt(1.0 - u**2)
    else:
        raise ValueError(f"kind must be 0 (square), 1 (triangle) or 2 (ellipse); got {kind!r}.")
    curve[start : start + width] = values / values.max()
    return curve


def generate_curves(
    num_examples: int, *, seed: int, length: int = LENGTH, min_width: int = 10,
    max_width: int = 40, noise: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Balanced random curves: ``curves [N, length]`` float32 and ``labels [N]`` int64.

    Classes cycle square, triangle, ellipse; widths are uniform in
    ``[min_width, max_width]`` and positions uniform where the shape fits. ``noise``
    adds Gaussian noise of that standard deviation. Deterministic for a seed.
    """
    if not 1 <= min_width <= max_width <= length:
        raise ValueError(
            f"widths must satisfy 1 <= min_width <= max_width <= length; got min_width="
            f"{min_width}, max_width={max_width}, length={length}."
        )
    rng = np.random.default_rng(seed)
    labels = np.arange(num_examples) % len(CLASS_NAMES)
    curves = np.empty((num_examples, length), np.float32)
    for i, kind in enumerate(labels):
        width = int(rng.integers(min_width, max_width + 1))
        start = int(rng.integers(0, length - width + 1))
        curves[i] = draw_curve(int(kind), start, width, length)
    if noise:
        curves += rng.normal(0.0, noise, curves.shape).astype(np.float32)
    return curves, labels.astype(np.int64)


@dataclasses.dataclass(eq=False)
class ShapeCurvesConfig(Config):
    """Sizes and randomness of the generated set."""

    num_train: int = 1200
    num_test: int = 300
    length: int = LENGTH
    noise: float = 0.0
    seed: int = 0


class ShapeCurves(Builder, skip_registration=True):
    """Generated square / triangle / ellipse curves (train 1,200 / test 300 by default)."""

    BUILDER_CONFIGS = [ShapeCurvesConfig(name="default")]

    def _info(self) -> tfds.core.DatasetInfo:
        return self._make_info(
            description="Generated curve shapes on a zero background, like the course's.",
            features=_features(self.builder_config.length),
            supervised_keys=("curve", "label"),
        )

    def _split_generators(self, dl_manager):
        cfg = self.builder_config
        return {
            "train": self._generate_examples(cfg.num_train, cfg.seed),
            "test": self._generate_examples(cfg.num_test, cfg.seed + 1),
        }

    def _generate_examples(self, num_examples: int, seed: int):
        cfg = self.builder_config
        curves, labels = generate_curves(num_examples, seed=seed, length=cfg.length, noise=cfg.noise)
        for i, (curve, label) in enumerate(zip(curves, labels)):
            yield i, {"curve": curve, "label": int(label)}


class ShapeCurvesLab(Builder, skip_registration=True):
    """The course's shape-curve CSVs: ``class`` + columns ``0``..``54`` (1,200 / 300)."""

    BUILDER_CONFIGS = [Config(name="default")]
    SOURCES = course_lab_sources("shape_classification_{split}.csv")

    def _info(self) -> tfds.core.DatasetInfo:
        return self._make_info(
            description="The BT-AI course's shape classification CSVs.",
            features=_features(LENGTH),
            supervised_keys=("curve", "label"),
        )

    def _generate_examples(self, path):
        source = str(path)
        for line, row in csv_rows(read_text(path), source=source, num_columns=LENGTH + 1):
            if row[0] not in CLASS_NAMES:
                raise ValueError(f"{source}, line {line}: class {row[0]!r} is not one of {CLASS_NAMES}.")
            curve = [parse_float(v, source=source, line=line, column=str(j)) for j, v in enumerate(row[1:])]
            yield line, {"curve": np.asarray(curve, np.float32), "label": CLASS_NAMES.index(row[0])}

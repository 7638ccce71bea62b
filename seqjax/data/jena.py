"""The Jena weather station, 10-minute records (the 2020 file: 52,696 rows).

The builder yields ``{"date": "YYYY-MM-DD HH:MM:SS", "values": float32 [21]}`` in
time order, one ``train`` split holding every row; :data:`COLUMNS` names the 21
measurements (the first 14 are those of ``jena_climate_2009_2016.csv``).
:func:`forecast_windows` cuts the course's forecasting problem out of the rows.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import tensorflow_datasets as tfds

from seqjax.data._builder import Builder, Config, SourceFile, csv_rows, parse_float, read_text

COLUMNS = (
    "p (mbar)", "T (degC)", "Tpot (K)", "Tdew (degC)", "rh (%)", "VPmax (mbar)", "VPact (mbar)",
    "VPdef (mbar)", "sh (g/kg)", "H2OC (mmol/mol)", "rho (g/m**3)", "wv (m/s)", "max. wv (m/s)",
    "wd (deg)", "rain (mm)", "raining (s)", "SWDR (W/m2)", "PAR (umol/m2/s)", "max. PAR (umol/m2/s)",
    "Tlog (degC)", "OT",
)
TEMPERATURE = COLUMNS.index("T (degC)")


class JenaWeather(Builder, skip_registration=True):
    """Jena weather station rows, time-ordered."""

    BUILDER_CONFIGS = [Config(name="default")]
    SOURCES = {
        "csv": SourceFile(
            "jena/jena_weather_2020.csv.gz", None,
            "https://www.bgc-jena.mpg.de/wetter/ (the 2020 records as one CSV, gzipped)",
        )
    }

    def _info(self) -> tfds.core.DatasetInfo:
        return self._make_info(
            description="Max Planck Institute for Biogeochemistry, Jena weather station, 2020.",
            features=tfds.features.FeaturesDict(
                {
                    "date": tfds.features.Text(),
                    "values": tfds.features.Tensor(shape=(len(COLUMNS),), dtype=np.float32),
                }
            ),
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(self._source(dl_manager, "csv"))}

    def _generate_examples(self, path):
        source = str(path)
        for line, row in csv_rows(read_text(path), source=source, num_columns=len(COLUMNS) + 1):
            values = [parse_float(v, source=source, line=line, column=c) for c, v in zip(COLUMNS, row[1:])]
            yield line, {"date": row[0], "values": np.asarray(values, np.float32)}


def rows_as_array(source) -> np.ndarray:
    """All ``values`` of a jena data source stacked: ``[N, 21]`` float32."""
    indices = list(range(len(source)))
    # tfds sources decode a batch of records far faster than one record at a time
    records = source.__getitems__(indices) if hasattr(source, "__getitems__") else [source[i] for i in indices]
    return np.stack([r["values"] for r in records]).astype(np.float32)


class Normalization(NamedTuple):
    """Per-feature ``mean [F]`` and ``std [F]`` fitted on the training rows."""

    mean: np.ndarray
    std: np.ndarray


class ForecastWindows:
    """Random-access windows: ``{"inputs": [lookback // step, F], "target": float32, "change": float32}``.

    Example ``k`` ends at row ``r = first + k``: inputs are the normalised rows
    ``r - lookback, r - lookback + step, ..., r - step`` and the target is the raw
    (degrees) value of ``target_column`` at row ``r + delay``, as the course's
    generator does. ``change`` is the target minus the raw value at the last input
    row: a model trained on it forecasts the residual over the common-sense baseline,
    and its absolute error is exactly the error of ``last + prediction`` in degrees.
    """

    def __init__(self, data, raw_target, ranges: list[tuple[int, int]], lookback: int, step: int, delay: int):
        self._data, self._target = data, raw_target
        self._lookback, self._step, self._delay = lookback, step, delay
        self._ranges = [(first, last) for first, last in ranges if last >= first]  # end rows, inclusive
        self._offsets = np.cumsum([0] + [last - first + 1 for first, last in self._ranges])
        self._count = int(self._offsets[-1])

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        if not -self._count <= index < self._count:
            raise IndexError(f"window index {index} out of range for {self._count} windows.")
        index %= self._count
        segment = int(np.searchsorted(self._offsets, index, side="right")) - 1
        end = self._ranges[segment][0] + index - int(self._offsets[segment])
        last_row = end - self._lookback + ((self._lookback - 1) // self._step) * self._step
        target = self._target[end + self._delay]
        return {
            "inputs": self._data[end - self._lookback : end : self._step],
            "target": np.float32(target),
            "change": np.float32(target - self._target[last_row]),
        }


def forecast_windows(
    values: np.ndarray,
    *,
    lookback: int = 1440,
    step: int = 6,
    delay: int = 144,
    target_column: int = TEMPERATURE,
    fractions: tuple[float, float] = (0.5, 0.25),
    block_rows: int = 0,
) -> tuple[dict[str, ForecastWindows], Normalization]:
    """The course's forecasting problem: 10 days of hourly history -> temperature in 24 h.

    Rows are split in time order: the first ``fractions[0]`` train, the next
    ``fractions[1]`` validation, the rest test; windows never cross a split. Inputs
    are normalised with the training rows' mean and std only.

    Args:
      values: ``[N, F]`` rows in time order (:func:`rows_as_array`).
      lookback: rows of history per window (1440 = 10 days of 10-minute rows).
      step: keep every ``step``-th history row (6 = hourly).
      delay: rows between the last input row and the target (144 = 24 hours).
      target_column: index of the predicted column (``T (degC)``).
      fractions: train and validation fractions of the rows.
      block_rows: ``0`` splits the rows once, in time order (the course's split, right
        for several years of rows). A positive size cuts the rows into blocks of that
        many rows and deals them out in cycles of four blocks (``4 * fractions[0]``
        train, ``4 * fractions[1]`` validation, the rest test), so that with a single
        year every split spans every season; a window never crosses into a block of
        another split.

    Returns:
      ``({"train", "validation", "test"} -> ForecastWindows, Normalization)``.
    """
    values = np.asarray(values, np.float32)
    if values.ndim != 2 or not 0 <= target_column < values.shape[1]:
        raise ValueError(
            f"values must be [N, F] with target_column < F; got shape {values.shape} and "
            f"target_column={target_column}."
        )
    for name, v in (("lookback", lookback), ("step", step), ("delay", delay)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int (rows); got {v!r}.")
    train_frac, val_frac = fractions
    if not (0 < train_frac and 0 < val_frac and train_frac + val_frac < 1):
        raise ValueError(f"fractions must be two positive numbers summing below 1; got {fractions}.")
    segments = _split_rows(len(values), train_frac, val_frac, block_rows)
    train = np.concatenate([values[a:b] for a, b in segments["train"]])
    norm = Normalization(train.mean(axis=0), train.std(axis=0) + 1e-7)
    data = (values - norm.mean) / norm.std
    splits = {}
    for name, rows in segments.items():
        splits[name] = ForecastWindows(
            data, values[:, target_column], [(a + lookback, b - delay - 1) for a, b in rows], lookback, step, delay
        )
        if not len(splits[name]):
            raise ValueError(
                f"the {name} split's row ranges {rows} are shorter than lookback + delay = "
                f"{lookback + delay}; use more rows, larger blocks or a shorter window."
            )
    return splits, norm


def _split_rows(n: int, train_frac: float, val_frac: float, block_rows: int) -> dict[str, list[tuple[int, int]]]:
    """``{split: [(start, stop), ...]}`` row ranges, contiguous blocks of one split merged."""
    if not block_rows:
        bounds = [0, int(n * train_frac), int(n * (train_frac + val_frac)), n]
        return {name: [(a, b)] for name, a, b in zip(("train", "validation", "test"), bounds[:-1], bounds[1:])}
    if isinstance(block_rows, bool) or not isinstance(block_rows, int) or block_rows < 1:
        raise ValueError(f"block_rows must be 0 (one time-ordered split) or a positive int; got {block_rows!r}.")
    n_train, n_val = round(4 * train_frac), round(4 * val_frac)
    if n_train < 1 or n_val < 1 or n_train + n_val > 3:
        raise ValueError(f"fractions {train_frac, val_frac} must give each split at least one block of four.")
    pattern = ["train"] * n_train + ["validation"] * n_val + ["test"] * (4 - n_train - n_val)
    out: dict[str, list[tuple[int, int]]] = {"train": [], "validation": [], "test": []}
    for k, start in enumerate(range(0, n, block_rows)):
        name, stop = pattern[k % 4], min(start + block_rows, n)
        if out[name] and out[name][-1][1] == start:
            out[name][-1] = (out[name][-1][0], stop)
        else:
            out[name].append((start, stop))
    return out


def baseline_mae(windows: ForecastWindows, norm: Normalization, target_column: int = TEMPERATURE) -> float:
    """The common-sense baseline's MAE in degrees: predict the last input row's value.

    With hourly steps that is the temperature about 24 hours before the target.
    """
    errors = []
    for k in range(len(windows)):
        example = windows[k]
        last = example["inputs"][-1, target_column] * norm.std[target_column] + norm.mean[target_column]
        errors.append(abs(float(last) - float(example["target"])))
    return float(np.mean(errors))

"""Human-written dates and their ISO form: the library's own sequence-to-sequence task.

``"22 Nov 2026"``, ``"november 22, 2026"``, ``"22/11/2026"``, ``"Sunday, 22 November 2026"``,
``"the 22nd of November, 2026"``, ... -> ``"2026-11-22"``, for every date from 1950 to
2049 in :data:`FORMATS` (day first wherever the day and month are both numbers, so
no string is ambiguous). Generated, so no download is needed, and deterministic:
example ``i`` of a split depends only on ``(seed, split, i)``.

The splits hold out whole dates: ``test`` draws from the dates whose day number
(days since 1950-01-01) is a multiple of 10, ``train`` and ``validation`` from the
rest, so a test date never appears in training in any format.
"""

from __future__ import annotations

import datetime as dt
from typing import Callable

import numpy as np

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
FIRST, LAST = dt.date(1950, 1, 1), dt.date(2049, 12, 31)
SPLITS = ("train", "validation", "test")

SOURCE_CHARS = " ,./-0123456789" + "abcdefghijklmnopqrstuvwxyz" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SOURCE_VOCAB = {c: i + 1 for i, c in enumerate(SOURCE_CHARS)}  # 0 is padding
TARGET_CHARS = "0123456789-"
PAD, BOS, EOS = 0, 1, 2
TARGET_VOCAB = {c: i + 3 for i, c in enumerate(TARGET_CHARS)}
TARGET_LENGTH = 11  # "YYYY-MM-DD" + EOS
MAX_SOURCE_LENGTH = 32


def _ordinal(day: int) -> str:
    suffix = "th" if 10 <= day % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def _day(d: dt.date, pad: bool) -> str:
    return f"{d.day:02d}" if pad else str(d.day)


def _month(d: dt.date, pad: bool) -> str:
    return f"{d.month:02d}" if pad else str(d.month)


# Each format renders a date; ``pad`` chooses zero-padded day/month numbers where they appear.
FORMATS: tuple[Callable[[dt.date, bool], str], ...] = (
    lambda d, p: f"{_day(d, p)} {MONTHS[d.month - 1][:3]} {d.year}",  # 22 Nov 2026
    lambda d, p: f"{MONTHS[d.month - 1].lower()} {d.day}, {d.year}",  # november 22, 2026
    lambda d, p: f"{_day(d, p)}/{_month(d, p)}/{d.year}",  # 22/11/2026
    lambda d, p: f"{MONTHS[d.month - 1][:3]} {d.day}, {d.year}",  # Nov 22, 2026
    lambda d, p: f"{_day(d, p)} {MONTHS[d.month - 1]} {d.year}",  # 22 November 2026
    lambda d, p: d.isoformat(),  # 2026-11-22
    lambda d, p: f"{_day(d, p)}.{_month(d, p)}.{d.year}",  # 22.11.2026
    lambda d, p: f"{WEEKDAYS[d.weekday()]}, {d.day} {MONTHS[d.month - 1]} {d.year}",  # Sunday, 22 November 2026
    lambda d, p: f"{_day(d, p)}-{MONTHS[d.month - 1][:3]}-{d.year}",  # 22-Nov-2026
    lambda d, p: f"{MONTHS[d.month - 1].upper()} {d.day} {d.year}",  # NOVEMBER 22 2026
    lambda d, p: f"{d.day} {MONTHS[d.month - 1][:3].lower()}. {d.year}",  # 22 nov. 2026
    lambda d, p: f"{WEEKDAYS[d.weekday()][:3].lower()} {d.day} {MONTHS[d.month - 1][:3].lower()} {d.year}",
    lambda d, p: f"{d.year}/{_month(d, p)}/{_day(d, p)}",  # 2026/11/22
    lambda d, p: f"{MONTHS[d.month - 1]} {_ordinal(d.day)}, {d.year}",  # November 22nd, 2026
    lambda d, p: f"the {_ordinal(d.day)} of {MONTHS[d.month - 1]}, {d.year}",  # the 22nd of November, 2026
)


def _pool(split: str) -> np.ndarray:
    days = np.arange((LAST - FIRST).days + 1)
    held_out = days % 10 == 0
    return days[held_out] if split == "test" else days[~held_out]


def encode_source(text: str) -> np.ndarray:
    """A date string -> ids ``[MAX_SOURCE_LENGTH]`` (right-padded with 0)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the date text is empty; give a date such as '22 Nov 2026'.")
    unknown = sorted({c for c in text if c not in SOURCE_VOCAB})
    if unknown:
        raise ValueError(f"the date text {text!r} has characters outside the vocabulary: {unknown}.")
    if len(text) > MAX_SOURCE_LENGTH:
        raise ValueError(f"the date text is {len(text)} characters; at most {MAX_SOURCE_LENGTH} are read.")
    ids = np.zeros(MAX_SOURCE_LENGTH, np.int32)
    ids[: len(text)] = [SOURCE_VOCAB[c] for c in text]
    return ids


def decode_target(ids) -> str:
    """Target ids -> text, stopping at the end token."""
    chars = {i: c for c, i in TARGET_VOCAB.items()}
    out = []
    for i in np.asarray(ids).tolist():
        if i in (EOS, PAD):
            break
        out.append(chars.get(i, "?"))
    return "".join(out)


class DatePairs:
    """A random-access split of ``count`` examples: ``{"text", "iso", "source [32]",
    "source_length", "target [11]"}`` (see the module docstring)."""

    def __init__(self, split: str = "train", count: int = 50_000, seed: int = 0):
        if split not in SPLITS:
            raise ValueError(f"split={split!r} is not one of {SPLITS}.")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a positive int; got {count!r}.")
        self.split, self.count, self.seed = split, count, seed
        self._days = _pool(split)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict:
        if not -self.count <= index < self.count:
            raise IndexError(f"index {index} out of range for {self.count} examples.")
        rng = np.random.default_rng([self.seed, SPLITS.index(self.split), index % self.count])
        date = FIRST + dt.timedelta(days=int(rng.choice(self._days)))
        text = FORMATS[int(rng.integers(len(FORMATS)))](date, bool(rng.integers(2)))
        iso = date.isoformat()
        target = np.array([TARGET_VOCAB[c] for c in iso] + [EOS], np.int32)
        return {"text": text, "iso": iso, "source": encode_source(text), "source_length": np.int32(len(text)),
                "target": target}

"""The SMS Spam Collection: 5,572 messages (Kaggle CSV, default) or 5,574 (UCI file).

Yields ``{"text", "label": 0 ham | 1 spam}`` in file order, one ``train`` split
(the course makes its own test split).
"""

from __future__ import annotations

import dataclasses

import tensorflow_datasets as tfds

from seqjax.data._builder import Builder, Config, SourceFile, csv_rows, decode

CLASS_NAMES = ("ham", "spam")


@dataclasses.dataclass(eq=False)
class SmsSpamConfig(Config):
    """``source``: ``"kaggle"`` (``spam.csv``, latin-1) or ``"uci"`` (``SMSSpamCollection``)."""

    source: str = "kaggle"


class SmsSpam(Builder, skip_registration=True):
    """SMS spam / ham messages."""

    BUILDER_CONFIGS = [SmsSpamConfig(name="default")]
    SOURCES = {
        "kaggle": SourceFile(
            "sms_spam/spam.csv", None, "https://www.kaggle.com/datasets/uciml/sms-spam-collection-dataset"
        ),
        "uci": SourceFile(
            "sms_spam/SMSSpamCollection", None,
            "https://archive.ics.uci.edu/dataset/228/sms+spam+collection (unzip SMSSpamCollection)",
        ),
    }

    def _info(self) -> tfds.core.DatasetInfo:
        return self._make_info(
            description="SMS Spam Collection v.1.",
            features=tfds.features.FeaturesDict(
                {"text": tfds.features.Text(), "label": tfds.features.ClassLabel(names=CLASS_NAMES)}
            ),
            supervised_keys=("text", "label"),
        )

    def _split_generators(self, dl_manager):
        source = self.builder_config.source
        if source not in self.SOURCES:
            raise ValueError(f"source must be one of {sorted(self.SOURCES)}; got {source!r}.")
        return {"train": self._generate_examples(self._source(dl_manager, source), source)}

    def _generate_examples(self, path, source):
        name = str(path)
        data = path.read_bytes()
        if source == "kaggle":
            # Kaggle's CSV is latin-1: v1 label, v2 text, then three mostly empty columns.
            rows = csv_rows(decode(data, source=name, encoding="latin-1"), source=name, num_columns=5)
            records = ((line, row[0], row[1]) for line, row in rows)
        else:
            lines = decode(data, source=name).splitlines()
            records = (_split_uci(line, n, name) for n, line in enumerate(lines, 1) if line.strip())
        for line, label, text in records:
            if label not in CLASS_NAMES:
                raise ValueError(f"{name}, line {line}: label {label!r} is not one of {CLASS_NAMES}.")
            yield line, {"text": text, "label": CLASS_NAMES.index(label)}


def _split_uci(line: str, number: int, source: str) -> tuple[int, str, str]:
    label, sep, text = line.partition("\t")
    if not sep:
        raise ValueError(f"{source}, line {number}: expected 'label<TAB>text'; got {line[:60]!r}.")
    return number, label, text

"""Every builder on the real files: counts, fields, the Keras-compatible rules, errors."""

import gzip
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import seqjax.data as sjd
from seqjax.data import imdb, jena, reuters
from conftest import require

# (name, config, source files, {split: count})
COUNTS = [
    ("shape_curves", {}, [], {"train": 1200, "test": 300}),
    ("shape_curves_lab", {}, ["seed-lab/shape_classification_train.csv", "seed-lab/shape_classification_test.csv"],
     {"train": 1200, "test": 300}),
    ("sst2_lab", {}, ["seed-lab/sst_movie_reviews_processed_train.csv.gz"], {"train": 6920, "test": 1821}),
    ("imdb_reviews", {}, ["imdb/aclImdb_v1_labeled.tar.gz", "imdb/imdb_word_index.json"],
     {"train": 25000, "test": 25000}),
    ("reuters46", {}, ["reuters21578/reuters21578_sgm.tar.gz"], {"train": 8982, "test": 2246}),
    ("newsgroups20", {}, ["20newsgroups/20news-bydate.tar.gz"], {"train": 11314, "test": 7532}),
    ("newsgroups20", {"categories": ("comp.graphics", "sci.med")}, ["20newsgroups/20news-bydate.tar.gz"],
     {"train": 584 + 594, "test": 389 + 396}),
    ("sms_spam", {}, ["sms_spam/spam.csv"], {"train": 5572}),
    ("sms_spam", {"source": "uci"}, ["sms_spam/SMSSpamCollection"], {"train": 5574}),
    ("jena_weather", {}, ["jena/jena_weather_2020.csv.gz"], {"train": 52696}),
]

FIELDS = {
    "shape_curves": {"curve", "label"},
    "shape_curves_lab": {"curve", "label"},
    "sst2_lab": {"tokens", "text", "label"},
    "imdb_reviews": {"text", "label", "rating", "ids"},
    "reuters46": {"text", "topic", "label"},
    "newsgroups20": {"text", "category", "label"},
    "sms_spam": {"text", "label"},
    "jena_weather": {"date", "values"},
}


def test_names_lists_every_builder():
    assert sjd.names() == sorted(FIELDS)


@pytest.mark.parametrize("name, config, files, counts", COUNTS, ids=[f"{c[0]}{c[1] or ''}" for c in COUNTS])
def test_counts_and_fields(name, config, files, counts, data_dir, manual_dir):
    require(*files)
    built = sjd.builder(name, data_dir=str(data_dir), manual_dir=str(manual_dir), **config)
    assert {s: built.info.splits[s].num_examples for s in built.info.splits} == counts
    for split in counts:
        source = built.as_data_source(split)
        assert len(source) == counts[split]
        assert set(source[0]) == FIELDS[name]


def test_label_balance_and_content(data_dir, manual_dir):
    require("sms_spam/spam.csv", "seed-lab/shape_classification_train.csv")
    kw = dict(data_dir=str(data_dir), manual_dir=str(manual_dir))
    sms = sjd.load("sms_spam", "train", **kw)
    assert sum(int(sms[i]["label"]) for i in range(len(sms))) == 747
    lab = sjd.load("shape_curves_lab", "train", **kw)
    assert np.bincount([int(lab[i]["label"]) for i in range(len(lab))]).tolist() == [400, 400, 400]
    assert lab[0]["curve"].shape == (55,) and lab[0]["curve"].dtype == np.float32


def test_sst2_tokens_keep_padding_and_oov(data_dir, manual_dir):
    require("seed-lab/sst_movie_reviews_processed_train.csv.gz")
    src = sjd.load("sst2_lab", "train", data_dir=str(data_dir), manual_dir=str(manual_dir))
    from seqjax.data.sst2_lab import split_tokens

    tokens = split_tokens(src[0]["tokens"])
    assert len(tokens) == 55 and tokens[:7] == ["an", "ambitious", "'", "what", "if", "?", "'"]
    assert tokens[7:] == ["PAD"] * 48 and src[0]["text"] == b"an ambitious ' what if ? '"
    assert any(b"OOV" in src[i]["tokens"] for i in range(50))


def test_imdb_ids_match_keras_x_train_0(manual_dir):
    """keras.datasets.imdb x_train[0] (num_words=10000) is aclImdb/train/pos/576_10.txt."""
    require("imdb/imdb_word_index.json")
    word_index = imdb.load_word_index(manual_dir / "imdb" / "imdb_word_index.json")
    text = (
        "This film was just brilliant,casting,location scenery,story,direction,everyone's really suited the "
        "part they played,and you could just imagine being there,Robert Redford's is an amazing actor"
    )
    keras_prefix = [1, 14, 22, 16, 43, 530, 973, 1622, 1385, 65, 458, 4468, 66, 3941, 4, 173, 36, 256, 5,
                    25, 100, 43, 838, 112, 50, 670, 2, 9, 35, 480, 284]
    assert imdb.keras_ids(text, word_index, num_words=10_000) == keras_prefix
    assert imdb.keras_ids("the <br />THE?", word_index) == [1, 4, 4]
    assert imdb.keras_ids("zzzunknownzzz", word_index) == [1, 2]


def test_imdb_builder_ids_follow_the_rule(data_dir, manual_dir):
    require("imdb/aclImdb_v1_labeled.tar.gz", "imdb/imdb_word_index.json")
    kw = dict(data_dir=str(data_dir), manual_dir=str(manual_dir))
    src = sjd.load("imdb_reviews", "train", **kw)
    word_index = imdb.load_word_index(manual_dir / "imdb" / "imdb_word_index.json")
    for i in (0, 1, 12345):
        ex = src[i]
        assert ex["ids"].tolist() == imdb.keras_ids(ex["text"].decode(), word_index)
    first = [int(src[i]["label"]) for i in range(10_000)]
    assert 0.45 < np.mean(first) < 0.55, "the first 10,000 training reviews must mix both classes"
    capped = sjd.load("imdb_reviews", "test", num_words=10_000, **kw)
    assert max(int(capped[i]["ids"].max()) for i in range(200)) < 10_000


def test_reuters_rule_and_keras_label_order(data_dir, manual_dir):
    require("reuters21578/reuters21578_sgm.tar.gz")
    built = sjd.builder("reuters46", data_dir=str(data_dir), manual_dir=str(manual_dir))
    names = built.info.metadata["topic_names"]
    assert len(names) == 46
    assert names[:8] == ["cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing"]
    assert names[-4:] == ["silver", "wpi", "hog", "lead"]
    test = built.as_data_source("test")
    assert all(names[int(test[i]["label"])] == test[i]["topic"].decode() for i in range(100))


def test_reuters_sgml_parser():
    sgml = (
        '<REUTERS TOPICS="YES" NEWID="1"><TOPICS><D>earn</D><D>acq</D></TOPICS>'
        "<TEXT>&#2;<TITLE>A &amp; B</TITLE><BODY>Profit &lt;up&gt;.\n&#3;</BODY></TEXT></REUTERS>"
        '<REUTERS NEWID="2"><TOPICS></TOPICS><TEXT TYPE="UNPROC">&#2; raw text &#3;</TEXT></REUTERS>'
    )
    assert reuters.parse_sgml(sgml) == [(["earn", "acq"], "A & B\nProfit <up>."), ([], "raw text")]


def test_newsgroups_subset_labels_sorted(data_dir, manual_dir):
    require("20newsgroups/20news-bydate.tar.gz")
    built = sjd.builder(
        "newsgroups20", data_dir=str(data_dir), manual_dir=str(manual_dir), categories=("sci.med", "comp.graphics")
    )
    assert built.info.features["label"].names == ["comp.graphics", "sci.med"]
    src = built.as_data_source("train")
    assert {src[i]["category"] for i in range(len(src))} == {b"comp.graphics", b"sci.med"}
    with pytest.raises(ValueError, match=r"unknown \['sci.medd'\].*Known: alt.atheism"):
        sjd.builder("newsgroups20", data_dir=str(data_dir), manual_dir=str(manual_dir), categories=("sci.medd",))


def test_jena_rows_and_columns(data_dir, manual_dir):
    require("jena/jena_weather_2020.csv.gz")
    src = sjd.load("jena_weather", "train", data_dir=str(data_dir), manual_dir=str(manual_dir))
    assert src[0]["date"] == b"2020-01-01 00:10:00"
    assert src[0]["values"].shape == (21,)
    np.testing.assert_allclose(src[0]["values"][:3], [1008.89, 0.71, 273.18], rtol=1e-6)
    assert len(jena.COLUMNS) == 21 and jena.COLUMNS[jena.TEMPERATURE] == "T (degC)"
    values = jena.rows_as_array(src)
    assert values.shape == (52696, 21)
    splits, norm = jena.forecast_windows(values)  # the course's 10 days -> 24 hours ahead
    assert splits["train"][0]["inputs"].shape == (240, 21)
    assert len(splits["train"]) == 52696 // 2 - 1440 - 144
    assert 1.0 < jena.baseline_mae(splits["validation"], norm) < 5.0  # degrees Celsius


def test_forecast_windows_follow_the_course_generator():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(400, 3)).astype(np.float32)
    splits, norm = jena.forecast_windows(values, lookback=24, step=6, delay=12, target_column=1, fractions=(0.5, 0.25))
    np.testing.assert_allclose(norm.mean, values[:200].mean(0), rtol=1e-5)  # fitted on train rows only
    train = splits["train"]
    assert len(train) == 200 - 24 - 12  # ends r in [24, 200 - 12 - 1]
    ex = train[0]
    assert ex["inputs"].shape == (4, 3)
    np.testing.assert_allclose(ex["inputs"], (values[0:24:6] - norm.mean) / norm.std, rtol=1e-5)
    assert ex["target"] == values[24 + 12, 1]
    last = splits["test"][len(splits["test"]) - 1]
    assert last["target"] == values[399, 1]
    baseline = jena.baseline_mae(splits["validation"], norm, target_column=1)
    expected = np.mean([abs(values[r - 6, 1] - values[r + 12, 1]) for r in range(200 + 24, 300 - 12)])
    assert baseline == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="shorter than lookback"):
        jena.forecast_windows(values, lookback=300, delay=12)


def test_forecast_change_is_the_residual_over_the_baseline_and_blocks_keep_splits_apart():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(800, 2)).astype(np.float32)
    splits, norm = jena.forecast_windows(values, lookback=24, step=6, delay=12, target_column=1, block_rows=100)
    ex = splits["train"][3]
    last = ex["inputs"][-1, 1] * norm.std[1] + norm.mean[1]
    assert ex["change"] == pytest.approx(ex["target"] - last, abs=1e-5)
    # blocks of 100 rows dealt train, train, validation, test: rows 0-199 train, 200-299 validation, ...
    np.testing.assert_allclose(norm.mean, np.concatenate([values[0:200], values[400:600]]).mean(0), rtol=1e-5)
    assert len(splits["train"]) == 2 * (200 - 24 - 12)
    assert len(splits["validation"]) == len(splits["test"]) == 2 * (100 - 24 - 12)
    first_test = splits["test"][0]  # ends at row 300 + 24: inputs rows 300..318, target row 336
    np.testing.assert_allclose(first_test["inputs"], (values[300:324:6] - norm.mean) / norm.std, rtol=1e-5)
    assert first_test["target"] == values[324 + 12, 1]
    second_block = splits["validation"][100 - 24 - 12]  # the first window of the second validation block
    assert second_block["target"] == values[600 + 24 + 12, 1]
    with pytest.raises(ValueError, match="block_rows must be"):
        jena.forecast_windows(values, lookback=24, delay=12, block_rows=-5)


def test_shape_curves_deterministic_for_a_seed(tmp_path):
    a = sjd.load("shape_curves", "train", data_dir=str(tmp_path / "a"), num_train=30, num_test=6, seed=5)
    b = sjd.load("shape_curves", "train", data_dir=str(tmp_path / "b"), num_train=30, num_test=6, seed=5)
    c = sjd.load("shape_curves", "train", data_dir=str(tmp_path / "c"), num_train=30, num_test=6, seed=6)
    assert len(a) == 30
    np.testing.assert_array_equal(np.stack([a[i]["curve"] for i in range(30)]), np.stack([b[i]["curve"] for i in range(30)]))
    assert not np.array_equal(a[0]["curve"], c[0]["curve"])
    curve = a[0]["curve"]
    assert curve.max() == pytest.approx(1.0) and curve[0] == 0 and curve.min() == 0


def test_prepared_files_are_reused(tmp_path):
    first = sjd.builder("shape_curves", data_dir=str(tmp_path), num_train=9, num_test=3)
    files = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    stamps = [p.stat().st_mtime_ns for p in files]
    again = sjd.builder("shape_curves", data_dir=str(tmp_path), num_train=9, num_test=3)
    assert again.data_dir == first.data_dir
    assert [p.stat().st_mtime_ns for p in files] == stamps


PREPARE_AT_ONCE = """
import sys, time
from pathlib import Path
import seqjax.data as sjd
go = Path(sys.argv[2])
Path(sys.argv[3]).touch()
while not go.exists():  # both processes are imported and waiting before either prepares
    time.sleep(0.005)
built = sjd.builder("shape_curves", data_dir=sys.argv[1], num_train=1000, num_test=200, seed=3)
source = built.as_data_source("train")
print(len(source), float(source[7]["curve"].sum()))
"""


def test_two_processes_preparing_one_data_set_at_once_both_get_it(tmp_path):
    """Without the lock the second to finish crashes renaming its folder onto the first's."""
    go, ready = tmp_path / "go", [tmp_path / "ready0", tmp_path / "ready1"]
    runs = [
        subprocess.Popen([sys.executable, "-c", PREPARE_AT_ONCE, str(tmp_path / "data"), str(go), str(flag)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for flag in ready
    ]
    deadline = time.monotonic() + 120
    while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    results = [run.communicate(timeout=300) for run in runs]
    for run, (out, err) in zip(runs, results):
        assert run.returncode == 0, err[-2000:]
    waited = [err for _, err in results if "another process is preparing" in err]
    assert len(waited) == 1 and "waiting for it" in waited[0]  # the second says why it waits
    lines = [out.splitlines()[-1] for out, _ in results]  # tfds prints its progress before
    assert lines[0] == lines[1] and lines[0].startswith("1000 ")
    folders = [p.name for p in (tmp_path / "data" / "shape_curves").glob("custom_*/*")]
    assert folders == ["1.0.0"], folders  # one prepared folder, no incomplete.* left beside it


def test_an_unprepared_builder_asks_no_metadata_bucket_and_leaves_no_temp_dir(tmp_path, monkeypatch):
    import tempfile

    from tensorflow_datasets.core.utils import gcs_utils

    def no_bucket(*args, **kwargs):
        raise AssertionError("a seqjax builder looked up TFDS's GCS metadata bucket")

    monkeypatch.setattr(gcs_utils, "gcs_dataset_info_files", no_bucket)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    built = sjd.builder("shape_curves", data_dir=str(tmp_path / "data"), num_train=9, num_test=3)
    assert built.info.splits["train"].num_examples == 9  # the info of what it generated
    assert list(scratch.iterdir()) == []


# --- errors ---------------------------------------------------------------------------


def test_unknown_name_lists_known():
    with pytest.raises(ValueError, match=r"unknown data set 'imbd_reviews'; known: imdb_reviews, jena_weather.*Did you mean 'imdb_reviews'"):
        sjd.load("imbd_reviews", "train")


def test_unknown_option_and_split(tmp_path):
    with pytest.raises(ValueError, match=r"shape_curves: unknown option\(s\) \['num_trian'\]"):
        sjd.builder("shape_curves", data_dir=str(tmp_path), num_trian=5)
    with pytest.raises(ValueError, match=r"has no split 'valid'; its splits are \['test', 'train'\]"):
        sjd.load("shape_curves", "valid", data_dir=str(tmp_path), num_train=6, num_test=3)


def test_missing_file_says_which_and_where(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing source file 'reuters21578/reuters21578_sgm.tar.gz'.*Put the file at .*empty/reuters21578/reuters21578_sgm.tar.gz"):
        sjd.builder("reuters46", data_dir=str(tmp_path / "d"), manual_dir=str(tmp_path / "empty"), download=False)


def test_malformed_csv_row_gives_line_number(tmp_path):
    lab = tmp_path / "manual" / "seed-lab"
    lab.mkdir(parents=True)
    header = "class," + ",".join(str(i) for i in range(55))
    good = "square," + ",".join(["0"] * 55)
    (lab / "shape_classification_train.csv").write_text("\n".join([header, good, good, "square,0,1"]) + "\n")
    (lab / "shape_classification_test.csv").write_text("\n".join([header, good]) + "\n")
    with pytest.raises(ValueError, match=r"shape_classification_train.csv, line 4: malformed CSV row with 3 columns, expected 56"):
        sjd.builder("shape_curves_lab", data_dir=str(tmp_path / "d"), manual_dir=str(tmp_path / "manual"))


def test_non_utf8_text_is_refused_with_position(tmp_path):
    lab = tmp_path / "manual" / "seed-lab"
    lab.mkdir(parents=True)
    header = "class," + ",".join(str(i) for i in range(55))
    row = "positive," + ",".join(["good"] + ["PAD"] * 54)
    for split in ("train", "test"):
        data = (header + "\n" + row + "\n").encode() + b"negative,caf\xe9" + b",PAD" * 54 + b"\n"
        (lab / f"sst_movie_reviews_processed_{split}.csv.gz").write_bytes(gzip.compress(data))
    with pytest.raises(ValueError, match=r"not valid utf-8 text at byte \d+ \(line 3\)"):
        sjd.builder("sst2_lab", data_dir=str(tmp_path / "d"), manual_dir=str(tmp_path / "manual"))


def test_manual_dir_env_is_the_default(tmp_path, monkeypatch, manual_dir):
    require("sms_spam/spam.csv")
    monkeypatch.setenv("SEQJAX_MANUAL_DIR", str(manual_dir))
    monkeypatch.setenv("SEQJAX_DATA_DIR", str(tmp_path))
    assert len(sjd.load("sms_spam", "train")) == 5572
    assert (tmp_path / "sms_spam").is_dir()

"""Tests for nnfunc.report.metrics (counts, accuracies, tables) and the metrics files of nnfunc.training.runlog."""

import csv
import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nnfunc.report import metrics
from nnfunc.training import runlog
from nnfunc.errors import DataError, InputError

Y_TRUE = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2])
Y_PRED = np.array([0, 1, 1, 1, 0, 2, 2, 1, 2])


def test_confusion_matrix_known_counts():
    confusion = metrics.confusion_matrix(Y_TRUE, Y_PRED, 3)
    expected = np.array([[1, 1, 0], [1, 2, 0], [0, 1, 3]])
    np.testing.assert_array_equal(confusion, expected)
    assert confusion.dtype == np.int64
    np.testing.assert_array_equal(confusion.sum(axis=1), np.bincount(Y_TRUE))
    np.testing.assert_array_equal(confusion.sum(axis=0), np.bincount(Y_PRED))


def test_accuracy_known_value():
    assert metrics.accuracy(Y_TRUE, Y_PRED) == pytest.approx(6 / 9)
    assert metrics.accuracy(Y_TRUE, Y_TRUE) == 1.0


@given(st.integers(1, 6), st.integers(1, 50), st.integers(0, 2**32 - 1))
def test_accuracy_equals_trace_over_total(n_classes, m, seed):
    rng = np.random.default_rng(seed)
    y_true, y_pred = rng.integers(0, n_classes, m), rng.integers(0, n_classes, m)
    confusion = metrics.confusion_matrix(y_true, y_pred, n_classes)
    # counted pair by pair in a plain loop, not through a flat index and bincount
    counts = [[0] * n_classes for _ in range(n_classes)]
    for t, p in zip(y_true.tolist(), y_pred.tolist()):
        counts[t][p] += 1
    assert confusion.tolist() == counts
    assert confusion.sum() == m
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(np.trace(confusion) / m)
    acc = metrics.per_class_accuracy(confusion)
    support = np.bincount(y_true, minlength=n_classes)
    np.testing.assert_allclose(acc[support > 0] * support[support > 0], np.diag(confusion)[support > 0])
    assert np.isnan(acc[support == 0]).all()


def test_per_class_accuracy_values_and_empty_class_is_nan():
    confusion = metrics.confusion_matrix(Y_TRUE, Y_PRED, 4)
    acc = metrics.per_class_accuracy(confusion)
    np.testing.assert_allclose(acc[:3], [1 / 2, 2 / 3, 3 / 4])
    assert np.isnan(acc[3])
    assert acc.dtype == np.float64


@pytest.mark.parametrize(
    "y_true, y_pred, n",
    [
        ([0, 1], [0], 2),  # length mismatch
        ([[0, 1]], [[0, 1]], 2),  # 2-D
        ([0.0, 1.0], [0, 1], 2),  # float labels
        ([0, 3], [0, 1], 3),  # label out of range
        ([0, -1], [0, 1], 3),  # negative label
        ([0, 1], [0, 1], 0),  # bad n_classes
    ],
)
def test_confusion_matrix_rejects_bad_input(y_true, y_pred, n):
    with pytest.raises(InputError):
        metrics.confusion_matrix(np.array(y_true), np.array(y_pred), n)


def test_accuracy_of_nothing_is_an_error():
    with pytest.raises(InputError, match="zero examples"):
        metrics.accuracy(np.array([], dtype=int), np.array([], dtype=int))


def test_format_confusion_is_aligned_and_holds_counts():
    confusion = metrics.confusion_matrix(Y_TRUE, Y_PRED, 3)
    text = metrics.format_confusion(confusion, ["zero", "one", "two"])
    lines = text.splitlines()
    assert len(lines) == 4
    assert len({len(line) for line in lines}) == 1
    assert lines[0].startswith("true\\pred")
    assert lines[3].split() == ["two", "0", "1", "3"]


def test_format_per_class_shows_percent_and_na():
    confusion = metrics.confusion_matrix(Y_TRUE, Y_PRED, 4)
    lines = metrics.format_per_class(confusion, list("abcd")).splitlines()
    assert len({len(line) for line in lines}) == 1
    assert lines[3].split() == ["c", "4", "3", "75.00%"]
    assert lines[4].split() == ["d", "0", "0", "n/a"]
    with pytest.raises(InputError, match="class_names"):
        metrics.format_per_class(confusion, list("abc"))


def _history(with_val=True):
    history = []
    for epoch in range(1, 4):
        history.append(
            {
                "epoch": epoch,
                "train_loss": 1.0 / epoch,
                "train_accuracy": np.float32(0.8 + 0.05 * epoch),
                "val_loss": 1.1 / epoch if with_val else None,
                "val_accuracy": 0.79 + 0.05 * epoch if with_val else float("nan"),
                "lr": 0.1,
                "seconds": 2.5 + epoch,
            }
        )
    return history


def test_write_read_round_trip(tmp_path):
    history = _history()
    json_path, csv_path = runlog.write_metrics(tmp_path, history, test={"loss": 0.3, "accuracy": 0.97})
    record = runlog.read_metrics(tmp_path)
    assert record == json.loads(json_path.read_text())
    assert list(record) == ["epochs", "test"]
    assert record["test"] == {"loss": 0.3, "accuracy": 0.97}
    assert len(record["epochs"]) == 3
    for entry, row in zip(history, record["epochs"]):
        assert list(row) == list(runlog.EPOCH_KEYS)
        for key in runlog.EPOCH_KEYS:
            assert row[key] == float(entry[key])
        assert isinstance(row["epoch"], int)
    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(runlog.EPOCH_KEYS)
    assert len(rows) == 4
    for entry, row in zip(history, rows[1:]):
        assert [float(v) for v in row] == [float(entry[k]) for k in runlog.EPOCH_KEYS]


def test_missing_validation_is_null_in_json_and_empty_in_csv(tmp_path):
    history = _history(with_val=False)
    del history[0]["val_loss"]  # absent is the same as None
    runlog.write_metrics(tmp_path, history)
    record = runlog.read_metrics(tmp_path)
    assert record["test"] is None
    assert all(row["val_loss"] is None and row["val_accuracy"] is None for row in record["epochs"])
    raw = (tmp_path / "metrics.json").read_text()
    assert "NaN" not in raw
    with open(tmp_path / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["val_loss"] for r in rows] == ["", "", ""]
    assert [r["val_accuracy"] for r in rows] == ["", "", ""]
    assert math.isclose(float(rows[2]["train_loss"]), 1 / 3)


def test_write_leaves_no_temp_files_and_overwrites(tmp_path):
    runlog.write_metrics(tmp_path, _history())
    runlog.write_metrics(tmp_path, _history()[:1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv", "metrics.json"]
    assert len(runlog.read_metrics(tmp_path)["epochs"]) == 1


def test_bad_history_raises_and_writes_nothing(tmp_path):
    history = _history()
    del history[1]["lr"]
    with pytest.raises(InputError, match="lr"):
        runlog.write_metrics(tmp_path, history)
    with pytest.raises(InputError):
        runlog.write_metrics(tmp_path, _history(), test={"accuracy": 0.9})
    with pytest.raises(InputError):
        runlog.write_metrics(tmp_path, {"epoch": 1})
    assert list(tmp_path.iterdir()) == []


def test_read_missing_metrics_names_the_file(tmp_path):
    with pytest.raises(InputError, match="metrics.json"):
        runlog.read_metrics(tmp_path)


@pytest.mark.parametrize("content", [b'{"epochs": [', b"\xff\xfe\x00garbage", b"[1, 2]", b'{"epochs": 3, "test": null}'])
def test_read_corrupt_metrics_is_a_data_error(tmp_path, content):
    (tmp_path / "metrics.json").write_bytes(content)
    with pytest.raises(DataError, match="metrics.json"):
        runlog.read_metrics(tmp_path)

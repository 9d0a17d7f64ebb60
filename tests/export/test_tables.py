"""Exported tables keep their columns in a fixed order: the header is pinned as written text, and
each row is read by position (not by name, as ``csv.DictReader`` would), so two columns swapped
in header and values both fail here. The expected headers are written out, not imported."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest

from optarena.arena import race

RACE_HEADER = "racer,optimizer,start,step,x,y,loss,grad_norm,step_size"
SUMMARY_HEADER = ("racer,optimizer,start,x0,y0,final_loss,best_loss,steps_to_tolerance,steps_to_escape,"
                  "distance_to_minimum,diverged_at,stop_reason,note")
SWEEP_HEADER = "optimizer,learning_rate,median_final_loss,median_best_loss,median_steps_to_tolerance,diverged_fraction"
TRAIN_HEADER = "racer,optimizer,seed,epoch,train_loss,val_loss,val_accuracy,seconds,diverged_at"


def _rows(text: str) -> tuple[str, list[list[str]]]:
    header, _, rest = text.partition("\n")
    return header, list(csv.reader(io.StringIO(rest)))


def _num(cell: str) -> float:
    return float(cell) if cell else math.nan


def test_race_csv_columns_in_order(tmp_path):
    from optarena.export import export

    res = race("rosenbrock", ["sgd(learning_rate=0.001)", "adam(learning_rate=0.05)"], starts=[(-1.2, 1.0), (0.5, 2.0)],
               steps=6)
    for text in (res.to_csv(), export(res, tmp_path / "race.csv").read_text()):
        header, rows = _rows(text)
        assert header == RACE_HEADER
        assert len(rows) == 2 * 2 * 7 and all(len(r) == 9 for r in rows)
        for row in rows:
            racer, optimizer, s, t = row[0], row[1], int(row[2]), int(row[3])
            i = res.labels.index(racer)
            assert optimizer == res.optimizers[i] == ["sgd", "adam"][i]
            x, y, loss, gnorm, dstep = map(_num, row[4:])
            assert (x, y) == tuple(res.positions[i, s, t])
            assert loss == res.losses[i, s, t] and gnorm == res.grad_norms[i, s, t] and dstep == res.step_sizes[i, s, t]
        # rows go racer by racer, start by start, step by step
        assert [(r[0], r[2], r[3]) for r in rows[:8]] == [("SGD", "0", str(t)) for t in range(7)] + [("SGD", "1", "0")]
        assert rows[-1][:4] == ["Adam", "adam", "1", "6"]


def test_race_summary_csv_columns_in_order(tmp_path):
    from optarena.export import export

    res = race("rosenbrock", ["sgd(learning_rate=10)", "adam(learning_rate=0.05)"], starts=[(-1.2, 1.0), (0.5, 2.0)],
               steps=30, record=False)
    for text in (res.to_csv(), export(res, tmp_path / "summary.csv").read_text()):
        header, rows = _rows(text)
        assert header == SUMMARY_HEADER
        summary = res.summary()
        assert len(rows) == len(summary) == 4 and all(len(r) == 13 for r in rows)
        for k, (row, want) in enumerate(zip(rows, summary)):
            assert row[:3] == [want["racer"], want["optimizer"], str(k % 2)]
            assert (float(row[3]), float(row[4])) == tuple(want["start"])
            assert _num(row[5]) == pytest.approx(want["final_loss"], nan_ok=True)
            assert _num(row[6]) == pytest.approx(want["best_loss"], nan_ok=True)
            assert row[7] == ("" if want["steps_to_tolerance"] is None else str(want["steps_to_tolerance"]))
            assert row[8] == ("" if want["steps_to_escape"] is None else str(want["steps_to_escape"]))
            assert _num(row[9]) == pytest.approx(want["distance_to_minimum"], nan_ok=True)
            assert row[10:12] == [str(want["diverged_at"]), want["stop_reason"]] and row[12] == want["note"]
        assert rows[0][10:12] == ["1", "diverged: left the window"] and rows[2][10:12] == ["-1", "completed"]


def test_sweep_csv_columns_in_order():
    from optarena.measure import sweep

    res = sweep("rosenbrock", ["sgd", "adam"], ["learning_rate=log(1e-3, 1e-1, 3)"], steps=40)
    header, rows = _rows(res.to_csv())
    assert header == SWEEP_HEADER
    summary = res.summary()
    assert len(rows) == len(summary) == 6 and all(len(r) == 6 for r in rows)
    for row, want in zip(rows, summary):
        assert row[0] == want["optimizer"] and float(row[1]) == want["learning_rate"]
        for cell, key in zip(row[2:], ("median_final_loss", "median_best_loss", "median_steps_to_tolerance",
                                       "diverged_fraction")):
            assert _num(cell) == pytest.approx(math.nan if want[key] is None else want[key], nan_ok=True)
    assert [r[0] for r in rows] == ["sgd"] * 3 + ["adam"] * 3
    np.testing.assert_allclose([float(r[1]) for r in rows[:3]], [1e-3, 1e-2, 1e-1])


def test_training_csv_columns_in_order():
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from optarena.nn import train_race

    res = train_race("iris", "logreg", ["sgd", "adam(learning_rate=0.01)"], epochs=1, seeds=1)
    header, rows = _rows(res.to_csv())
    assert header == TRAIN_HEADER
    assert len(rows) == 2 * 1 * 2 and all(len(r) == 9 for r in rows)
    for row in rows:
        i, s, e = res.labels.index(row[0]), int(row[2]), int(row[3])
        assert row[1] == res.optimizers[i]
        for cell, key in zip(row[4:8], ("train_loss", "val_loss", "val_accuracy", "seconds")):
            assert _num(cell) == pytest.approx(float(res.metrics[key][i, s, e]), nan_ok=True)
        assert int(row[8]) == int(res.diverged_at[i, s])
    # accuracy is a fraction, a loss is not: the two columns cannot trade places unseen
    assert all(0.0 <= float(r[6]) <= 1.0 for r in rows)

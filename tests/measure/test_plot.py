"""Pictures of sweeps: what each cell shows is the sweep's own numbers."""

from __future__ import annotations

import numpy as np
import pytest

from optarena.measure import sweep


def _png(path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_line_plot_draws_the_median_of_each_optimizer(tmp_path):
    res = sweep("rosenbrock", ["sgd", "adam"], ["learning_rate=log(1e-4, 1, 9)"], starts=[[-1.5, 2], [0, 0]], steps=100)
    fig = res.plot(tmp_path / "line.png")
    assert _png(tmp_path / "line.png")
    ax = fig.axes[0]
    lines = [ln for ln in ax.get_lines() if ln.get_label() in res.optimizers]
    assert [ln.get_label() for ln in lines] == res.optimizers
    med = res.objective("final_loss")
    for o, ln in enumerate(lines):
        finite = np.isfinite(med[o])
        np.testing.assert_allclose(ln.get_ydata(), np.maximum(med[o][finite], 1e-16))
        np.testing.assert_allclose(ln.get_xdata(), np.array(res.axes[0].values)[finite])
    assert ax.get_xscale() == "log"


def test_stability_map_colours_each_cell_by_its_median(tmp_path):
    res = sweep("quadratic", ["momentum"], ["learning_rate=log(0.05, 4, 12)", "momentum=lin(0, 0.9, 5)"], steps=200)
    fig = res.plot(tmp_path / "map.svg", metric="steps_to_tolerance")
    assert (tmp_path / "map.svg").read_text().lstrip().startswith("<?xml")
    mesh = fig.axes[0].collections[0]
    med = res.objective("steps_to_tolerance")[0]
    shown = np.ma.masked_invalid(np.where(np.isfinite(med), med, np.nan)).T
    np.testing.assert_array_equal(np.ma.getmaskarray(mesh.get_array()).ravel(), np.ma.getmaskarray(shown).ravel())
    np.testing.assert_allclose(mesh.get_array().compressed(), shown.compressed())
    red = fig.axes[0].collections[1].get_array()  # diverged cells
    np.testing.assert_array_equal(~np.ma.getmaskarray(red).ravel(), (res.diverged_fraction()[0] > 0.5).T.ravel())


def test_basin_map_colours_each_start_by_its_minimum(tmp_path):
    res = sweep("himmelblau", ["sgd(learning_rate=0.2)"], ["x=lin(-5, 5, 15)", "y=lin(-5, 5, 11)"], steps=200)
    fig = res.plot(tmp_path / "basins.png")
    assert _png(tmp_path / "basins.png")
    img = fig.axes[0].collections[0].get_array()
    np.testing.assert_array_equal(np.asarray(img).reshape(11, 15), (res.basin[0, :, :, 0] + 2).T)
    assert "diverged" in fig.axes[0].get_title()


def test_three_setting_axes_have_no_picture():
    res = sweep("quadratic", ["adam"], ["learning_rate=0.1,0.2", "beta1=0.8,0.9", "beta2=0.99,0.999"], steps=10)
    with pytest.raises(ValueError, match="one or two setting axes"):
        res.plot()


def test_notebook_display_and_frame():
    res = sweep("rosenbrock", ["sgd", "adam"], ["learning_rate=log(1e-4, 1, 5)"], steps=50)
    page = res._repr_html_()
    assert page.count("<tr>") == 1 + 2 and '<img src="data:image/png;base64,' in page
    for row in res.best():
        assert row["optimizer"] in page and f"learning_rate={row['setting']['learning_rate']:.4g}" in page
    frame = res.to_frame()
    assert len(frame) == 2 * 5 and list(frame.columns[:2]) == ["optimizer", "learning_rate"]
    shown = [None if v != v else v for v in frame["median_final_loss"].tolist()]  # NaN where the summary has None
    assert shown == [r["median_final_loss"] for r in res.summary()]
    flat = sweep("quadratic", ["adam"], ["learning_rate=0.1,0.2", "beta1=0.8,0.9", "beta2=0.99,0.999"], steps=5)
    assert "<img" not in flat._repr_html_() and "<table>" in flat._repr_html_()  # three axes: no picture


def test_basin_shares_and_a_landscape_no_registry_knows(tmp_path):
    """The shares the table and the picture show are the basin map's; a landscape object the
    registries do not know is drawn from the object itself (its name found nothing before)."""
    import dataclasses

    from optarena import landscapes
    from optarena.measure import DIVERGED, ELSEWHERE

    q = landscapes.get("quadratic")
    bowl = dataclasses.replace(q, name="my_bowl", title="my bowl", f=lambda x, y: (x - 1) ** 2 + (y - 1) ** 2,
                               grad=lambda x, y: (2 * (x - 1), 2 * (y - 1)), minima=((1.0, 1.0),))
    res = sweep(bowl, ["sgd(learning_rate=0.3)", "sgd(learning_rate=1.2)"], ["x=lin(-3, 3, 9)", "y=lin(-3, 3, 7)"], steps=60)
    assert res.surface() is bowl and res.basin_map(0).shape == (9, 7)
    for o in range(2):
        code = res.basin[o, :, :, 0]
        expected = {k: float(np.mean(code == k)) for k in (0, ELSEWHERE, DIVERGED) if k < 0 or np.any(code == k)}
        assert res.basin_shares(o) == expected
    assert res.basin_shares(0)[0] == 1.0 and res.basin_shares(1)[DIVERGED] == 1.0
    fig = res.plot(tmp_path / "bowl.png")
    assert "100% min 1" in fig.axes[0].get_title() and "100% diverged" in fig.axes[1].get_title()

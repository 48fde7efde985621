"""The plots of a scale run: checked through matplotlib's objects (titles, axes, series
and their data) and by opening the PNG files."""

from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")

from netemu.apps.scale import plots, run  # noqa: E402
from netemu.io.yaml_loader import load_yaml  # noqa: E402

TOPO = """
vpc: app
cidr: 10.0.0.0/16
subnets:
  app-a: {cidr: 10.0.1.0/24, az: us-east-1a}
  app-b: {cidr: 10.0.2.0/24, az: us-east-1b}
security_groups:
  fn: {egress: ["all to 0.0.0.0/0"]}
functions:
  orders: {subnets: [app-a, app-b], security_groups: [fn], memory: 1536}
"""


@pytest.fixture()
def result(tmp_path):
    (tmp_path / "t.yaml").write_text(TOPO)
    topo = load_yaml(tmp_path / "t.yaml")
    return run(topo, ["orders"], ["steps:0=50,20=200,40=0"], durations="1", duration=60,
               even=True, model="both")


def test_item_plot_objects_titles_axes_series(result):
    hp, _legacy = result
    figs = plots.figures(hp)
    assert {"concurrency", "errors", "addresses"} <= set(figs)
    ax = figs["concurrency"].axes[0]
    assert ax.get_title() == "Concurrency and environments (hyperplane)"
    assert ax.get_xlabel() == "time (s)" and ax.get_ylabel() == "executions"
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert {"concurrency:orders", "environments:orders", "environments_az:us-east-1a",
            "environments_az:us-east-1b"} <= set(lines)
    x, y = lines["concurrency:orders"].get_data()
    assert np.array_equal(x, hp.timeline["t"])
    assert np.array_equal(y, hp.timeline["concurrency:orders"])
    # 200 invocations/s of 1 s (+0.25 s cold start) from t=20: concurrency near 200
    assert 200 <= y[25] <= 250 and y[45] == 0
    addr = figs["addresses"].axes[0]
    labels = [line.get_label() for line in addr.get_lines()]
    assert "free_ips:app-a" in labels and "enis:app-a:available" in labels


def test_item_comparison_plot_puts_models_side_by_side(result):
    fig = plots.comparison(list(result))
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Concurrency served", "Errors per second",
                      "Lambda ENIs (addresses taken)"]
    enis = {line.get_label(): line.get_ydata() for line in fig.axes[2].get_lines()}
    assert set(enis) == {"hyperplane", "legacy"}
    # Hyperplane: one ENI per subnet, 2; legacy: one per 2 environments of 1,536 MB
    assert enis["hyperplane"].max() == 2
    assert enis["legacy"].max() > 2


def test_item_png_files_open_as_images(result, tmp_path):
    from matplotlib import image

    paths = plots.save(plots.figures(result[0]), tmp_path)
    assert {p.name for p in paths} >= {"concurrency.png", "errors.png", "addresses.png"}
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        img = image.imread(p)
        assert img.shape[:2] == (450, 900)           # 9 x 4.5 inches at 100 dpi
        assert img[..., :3].std() > 0.01               # not a blank canvas

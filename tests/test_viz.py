"""tfpath.viz: PAIR-compatible normalisation, overlays, PNG sizes, figures that leave matplotlib's
global state alone, and argument errors."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import saliency.core as pair
from tfpath import viz


@pytest.fixture
def mask():
    return np.random.default_rng(0).normal(size=(12, 10, 3)).astype(np.float32)


def test_grayscale_heatmap_equals_pair(mask):
    for p in (99, 95, 100):
        np.testing.assert_allclose(viz.heatmap(mask, percentile=p),
                                   pair.VisualizeImageGrayscale(mask, percentile=p), atol=1e-6)


def test_signed_heatmap_is_symmetric_and_keeps_sign(mask):
    heat = viz.heatmap(mask, signed=True)
    s = mask.sum(axis=2)
    assert heat.shape == (12, 10) and heat.min() >= -1 and heat.max() <= 1
    # explicit NumPy: Σ_c m over the 99th percentile of |Σ_c m|, clipped to [-1, 1]
    np.testing.assert_allclose(heat, np.clip(s / np.percentile(np.abs(s), 99), -1, 1),
                               atol=1e-6)
    assert np.all(np.sign(heat[np.abs(heat) > 0]) == np.sign(s[np.abs(heat) > 0]))
    np.testing.assert_allclose(viz.heatmap(-mask, signed=True), -heat, atol=1e-7)


def test_channel_reductions(mask):
    np.testing.assert_allclose(viz.reduce_channels(mask, "abs_sum"), np.abs(mask).sum(2),
                               rtol=1e-6)
    np.testing.assert_allclose(viz.reduce_channels(mask, "sum"), mask.sum(2), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(viz.reduce_channels(mask, "max_abs"), np.abs(mask).max(2))
    assert viz.reduce_channels(mask[..., 0]).shape == (12, 10)


def test_constant_mask_gives_zeros_not_nan():
    zero = np.zeros((5, 5, 1), np.float32)
    assert np.all(viz.heatmap(zero) == 0) and np.all(viz.heatmap(zero, signed=True) == 0)


def test_overlay_and_colorize_ranges(mask):
    heat = viz.heatmap(mask)
    rgb = viz.overlay(np.linspace(0, 1, 24 * 20).reshape(24, 20), heat)   # heat is resized
    assert rgb.shape == (24, 20, 3) and 0 <= rgb.min() and rgb.max() <= 1
    assert viz.colorize(viz.heatmap(mask, signed=True)).shape == (12, 10, 3)
    # Unattributed pixels show the gray image unchanged.
    img = np.full((12, 10, 3), 0.25, np.float32)
    np.testing.assert_allclose(viz.overlay(img, np.zeros((12, 10))), img)


def test_save_heatmap_sizes(tmp_path, mask):
    p = viz.save_heatmap(mask, tmp_path / "a" / "h.png")
    assert Image.open(p).size == (10, 12)                       # (width, height)
    p = viz.save_heatmap(mask, tmp_path / "h2.png", size=(48, 40), signed=True)
    assert Image.open(p).size == (40, 48)
    p = viz.save_heatmap(mask, tmp_path / "h3.png", image=np.zeros((30, 20, 3), np.uint8))
    assert Image.open(p).size == (20, 30) and Image.open(p).mode == "RGB"


def test_heatmap_image_is_what_save_heatmap_writes(tmp_path, mask):
    image = np.random.default_rng(2).integers(0, 256, (30, 20, 3)).astype(np.uint8)
    for kwargs in ({}, {"image": image}, {"signed": True, "size": (24, 16)}):
        rgb = viz.heatmap_image(mask, **kwargs)
        assert rgb.dtype == np.float32 and 0 <= rgb.min() and rgb.max() <= 1
        png = np.asarray(Image.open(viz.save_heatmap(mask, tmp_path / "h.png", **kwargs)))
        assert png.shape == rgb.shape
        np.testing.assert_array_equal(png, (rgb * 255 + 0.5).astype(np.uint8))


def _gallery_inputs(mask):
    images = np.random.default_rng(1).uniform(size=(2, 12, 10, 3)).astype(np.float32)
    cols = {"IG": np.stack([mask, -mask]), "IDGI": np.stack([mask, mask])}
    return images, cols


def test_save_gallery(tmp_path, mask):
    images, cols = _gallery_inputs(mask)
    kwargs = dict(row_labels=["a", "b"], notes={"IG": ["δ=0.1", "δ=0.2"]}, title="t")
    p = viz.save_gallery(images, cols, tmp_path / "g.png", **kwargs)
    w, h = Image.open(p).size
    assert w > h > 100
    # The PNG is the figure of viz.gallery saved at dpi=110 with a tight bounding box, as before:
    # the same pixels, and inside the full figure of cell_size * (1 + 2) by
    # cell_size * (2 + 0.15) + 0.9 inches at 110 dpi.
    fig = viz.gallery(images, cols, **kwargs)
    fig.savefig(tmp_path / "f.png", dpi=110, bbox_inches="tight")
    np.testing.assert_array_equal(np.asarray(Image.open(p)),
                                  np.asarray(Image.open(tmp_path / "f.png")))
    assert w <= int(1.9 * 3 * 110) and h <= int((1.9 * 2.15 + 0.9) * 110)
    p = viz.save_gallery(images, cols, tmp_path / "g2.png", cell_size=1.0, dpi=80)
    w2, h2 = Image.open(p).size
    assert 100 < w2 <= 3 * 80 and 100 < h2 <= int((2.15 + 0.9) * 80)


def test_gallery_returns_a_figure_and_figure_to_array_renders_it(mask):
    from matplotlib.figure import Figure
    images, cols = _gallery_inputs(mask)
    fig = viz.gallery(images, cols, cell_size=2.0, dpi=50)
    assert isinstance(fig, Figure) and fig.dpi == 50
    np.testing.assert_allclose(fig.get_size_inches(), [2.0 * 3, 2.0 * 2.15 + 0.9])
    rgba = viz.figure_to_array(fig)
    assert rgba.dtype == np.uint8 and rgba.shape == (260, 300, 4)
    assert rgba[..., 3].min() == 255 and len(np.unique(rgba[..., :3].reshape(-1, 3), 0)) > 50
    # A figure with a plain canvas is drawn on a temporary Agg canvas and keeps its own.
    plain = Figure(figsize=(1.0, 0.5), dpi=40)
    canvas = plain.canvas
    assert viz.figure_to_array(plain).shape == (20, 40, 4) and plain.canvas is canvas


# Run in a fresh interpreter that has selected the notebook (inline) backend and opened a figure
# of its own, as a notebook user would have, before calling tfpath.
_NOTEBOOK_SESSION = textwrap.dedent("""
    import json, sys
    import matplotlib
    matplotlib.use("module://matplotlib_inline.backend_inline")
    import matplotlib.pyplot as plt
    import numpy as np

    user_figure = plt.figure()
    def state():
        return {"backend": matplotlib.get_backend(), "fignums": plt.get_fignums(),
                "rc": {k: repr(v) for k, v in matplotlib.rcParams.items()}}
    before = state()

    from tfpath import viz
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(2, 12, 10, 3)).astype(np.float32)
    mask = rng.normal(size=(2, 12, 10, 3)).astype(np.float32)
    path = viz.save_gallery(images, {"IG": mask}, sys.argv[1], row_labels=["a", "b"], title="t")
    after_save = state()
    fig = viz.gallery(images, {"IG": mask, "-IG": -mask}, signed=True, cell_size=2.0, dpi=50)
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    heat = viz.heatmap_image(mask[0], image=images[0])
    after = state()
    print(json.dumps({
        "before": before, "after_save": after_save, "after": after,
        "user_figure_open": plt.fignum_exists(user_figure.number),
        "figure_type": type(fig).__module__ + "." + type(fig).__name__,
        "rgba_shape": list(rgba.shape), "rgba_dtype": str(rgba.dtype),
        "rgba_colours": int(len(np.unique(rgba[..., :3].reshape(-1, 3), axis=0))),
        "heat_shape": list(heat.shape),
    }))
""")


@pytest.fixture(scope="module")
def notebook_session(tmp_path_factory):
    """The JSON report of ``_NOTEBOOK_SESSION`` (one subprocess for the tests below)."""
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)
    env["PYTHONPATH"] = os.pathsep.join([str(repo)] + ([env["PYTHONPATH"]]
                                                        if env.get("PYTHONPATH") else []))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    png = tmp_path_factory.mktemp("notebook") / "gallery.png"
    done = subprocess.run([sys.executable, "-c", _NOTEBOOK_SESSION, str(png)], env=env,
                          cwd=repo, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["png"] = png
    return report


def test_viz_keeps_the_notebook_backend(notebook_session):
    inline = "module://matplotlib_inline.backend_inline"
    assert notebook_session["before"]["backend"] == inline
    assert notebook_session["after_save"]["backend"] == inline       # was "agg" (forced)
    assert notebook_session["after"]["backend"] == inline
    rc = notebook_session["before"]["rc"]
    for stage in ("after_save", "after"):
        changed = {k for k in rc if notebook_session[stage]["rc"].get(k) != rc[k]}
        assert not changed, f"rcParams changed by tfpath.viz: {sorted(changed)}"


def test_viz_leaves_pyplot_figures_alone_and_returns_a_renderable_figure(notebook_session):
    # the user's figure is still open and tfpath registered none of its own
    assert notebook_session["before"]["fignums"] == [1]
    assert notebook_session["after_save"]["fignums"] == [1]
    assert notebook_session["after"]["fignums"] == [1]
    assert notebook_session["user_figure_open"]
    assert notebook_session["figure_type"] == "matplotlib.figure.Figure"
    # 2.0 * 3 columns by 2.0 * (2 + 0.15) + 0.9 inches at 50 dpi
    assert notebook_session["rgba_shape"] == [260, 300, 4]
    assert notebook_session["rgba_dtype"] == "uint8" and notebook_session["rgba_colours"] > 50
    assert notebook_session["heat_shape"] == [12, 10, 3]
    w, h = Image.open(notebook_session["png"]).size
    assert w > 100 and h > 100 and w <= int(1.9 * 2 * 110)


@pytest.mark.parametrize("call, argument", [
    (lambda m: viz.heatmap(m, percentile=0), "percentile"),
    (lambda m: viz.heatmap(m, percentile=101), "percentile"),
    (lambda m: viz.reduce_channels(m, "mean"), "reduction"),
    (lambda m: viz.heatmap(m, signed=True, reduction="abs_sum"), "reduction"),
    (lambda m: viz.heatmap(np.zeros((2, 3, 4, 5), np.float32)), "mask"),
    (lambda m: viz.heatmap(np.full((3, 3), np.nan, np.float32)), "mask"),
    (lambda m: viz.overlay(np.zeros((4, 4, 2)), np.zeros((4, 4))), "image"),
    (lambda m: viz.overlay(np.zeros((4, 4)), np.zeros((4, 4)), alpha=2), "alpha"),
    (lambda m: viz.colorize(np.zeros((4, 4)), cmap="nope"), "cmap"),
    (lambda m: viz.save_gallery(np.zeros((2, 4, 4)), {"IG": np.zeros((3, 4, 4))}, "x.png"),
     "columns['IG']"),
    (lambda m: viz.save_gallery(np.zeros((2, 4, 4)), {}, "x.png"), "columns"),
    (lambda m: viz.gallery(np.zeros((2, 4, 4)), {"IG": np.zeros((3, 4, 4))}), "columns['IG']"),
    (lambda m: viz.gallery(np.zeros((2, 4, 4)), {"IG": np.zeros((2, 4, 4))}, row_labels=["a"]),
     "row_labels"),
    (lambda m: viz.figure_to_array(np.zeros((4, 4, 4))), "fig"),
])
def test_errors_name_the_argument(mask, call, argument):
    with pytest.raises((ValueError, TypeError), match=argument.replace("[", r"\[")):
        call(mask)


def test_viz_and_metrics_share_one_channel_reduction(mask, monkeypatch):
    """viz.reduce_channels and metrics.saliency_maps both use tfpath.core.reductions (no second
    copy of the names or formulas), and both agree with PAIR's visualisations and NumPy."""
    from tfpath import metrics
    from tfpath.core import reductions
    assert viz.CHANNEL_REDUCTIONS is reductions.REDUCTIONS
    batch = np.stack([mask, -2 * mask])
    expected = {"abs_sum": np.abs(batch).sum(-1), "sum": batch.sum(-1),
                "max_abs": np.abs(batch).max(-1)}
    for r in viz.CHANNEL_REDUCTIONS:
        maps = metrics.saliency_maps(batch, batch.shape, r)
        np.testing.assert_allclose(maps, expected[r], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(viz.reduce_channels(batch[1], r), expected[r][1], rtol=1e-6,
                                   atol=1e-6)
        # maps without a channel axis are reduced as one channel: |m| or m
        flat = batch[..., 0]
        one = np.abs(flat) if r != "sum" else flat
        np.testing.assert_allclose(metrics.saliency_maps(flat, batch.shape, r), one, rtol=1e-7)
    # PAIR: VisualizeImageGrayscale(·, 100) is the min-max normalised Σ_c |m|, and
    # VisualizeImageDiverging(·, 100) is (Σ_c m + span) / (2 span), span = max Σ_c m
    for i in range(2):
        gray = metrics.saliency_maps(batch, batch.shape, "abs_sum")[i]
        np.testing.assert_allclose((gray - gray.min()) / np.ptp(gray),
                                   pair.VisualizeImageGrayscale(batch[i], percentile=100),
                                   atol=1e-6)
        signed = metrics.saliency_maps(batch, batch.shape, "sum")[i]
        span = abs(np.percentile(signed, 100))
        np.testing.assert_allclose(np.clip((signed + span) / (2 * span), -1, 1),
                                   pair.VisualizeImageDiverging(batch[i], percentile=100),
                                   atol=1e-6)
    calls = []
    original = reductions.reduce_channels
    monkeypatch.setattr(reductions, "reduce_channels",
                        lambda *a, **k: calls.append(a[1]) or original(*a, **k))
    viz.reduce_channels(mask, "max_abs")
    metrics.saliency_maps(batch, batch.shape, "sum")
    assert calls == ["max_abs", "sum"]

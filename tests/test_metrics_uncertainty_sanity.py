"""EIC / URC over generic uncertainty functions, and the model-randomisation sanity check."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from scipy.ndimage import sobel  # noqa: E402

import tfpath  # noqa: E402
from tfpath import metrics  # noqa: E402
from tfpath.metrics.perturb import blur_images  # noqa: E402


# ----------------------------------------------------------------------- EIC / URC
@pytest.fixture(scope="module")
def uncertainty_case():
    """H(x) = softplus(v·x) + 0.1: pixels with v > 0 raise the uncertainty, v < 0 lower it.
    The exact ordering of pixel contributions relative to the blurred image is v ⊙ (x − x̃)."""
    rng = np.random.default_rng(0)
    n, h, w = 6, 12, 12
    v = rng.normal(0, 1, (h, w, 1))
    x = rng.random((n, h, w, 1)).astype(np.float32)

    def H(images):
        s = np.asarray(images, np.float64).reshape(len(images), -1) @ v.reshape(-1) * 0.3
        return np.logaddexp(0.0, s) + 0.1

    exact = v * (x - blur_images(x, 1.5))
    return dict(H=H, x=x, exact=exact, random=rng.normal(size=x.shape), v=v)


def test_eic_urc_exact_beats_random_and_reversed(uncertainty_case):
    c = uncertainty_case
    good = metrics.uncertainty_curves(c["H"], c["x"], c["exact"])
    bad = metrics.uncertainty_curves(c["H"], c["x"], c["random"])
    flipped = metrics.uncertainty_curves(c["H"], c["x"], -c["exact"])
    assert good["eic"].value > bad["eic"].value > flipped["eic"].value
    assert good["urc@5%"].value > bad["urc@5%"].value
    assert np.all(good["urc@5%"].per_image >= bad["urc@5%"].per_image - 1e-12)
    # curve facts: EIC starts at 1 (the blurred image) and ends at H(x)/H(blurred)
    eic = good["eic"]
    np.testing.assert_allclose(eic.curves[:, 0], 1.0)
    unc = eic.extra["uncertainty"]
    np.testing.assert_allclose(eic.curves[:, -1], unc[:, 0] / unc[:, -1])
    np.testing.assert_allclose(unc[:, 0], c["H"](c["x"]))


def _removal_states(x, attributions, fractions, blurred):
    """The removal pass, explicitly: state f has its round(f·P) most positive pixels replaced
    by the blurred image's (P pixels, one channel, attributions without ties)."""
    n = x.shape[0]
    order = np.argsort(-attributions.reshape(n, -1), axis=1)
    states = np.repeat(x[:, None], len(fractions), axis=1).reshape(n, len(fractions), -1)
    for j, f in enumerate(fractions):
        k = int(np.rint(f * order.shape[1]))
        for i in range(n):
            states[i, j, order[i, :k]] = blurred[i].reshape(-1)[order[i, :k]]
    return states.reshape((n, len(fractions)) + x.shape[1:])


def test_eic_urc_are_exact_on_a_linear_uncertainty():
    """H(z) = c + Σ v·z: removing pixel p (replacing it by the blurred image) lowers H by
    a_p = v_p (x_p − x̃_p), the exact attribution. So along the removal pass (most positive
    first) H(x_r) = H(x) − S_r with S_r the sum of the r largest a_p, URC_r = max_{j ≤ r}
    S_j / H(x), and the EIC is the reversed pass over H(x̃). A wrong order, fill, count or
    normalisation changes these numbers."""
    rng = np.random.default_rng(4)
    n, h, w = 3, 12, 12
    v = rng.normal(0, 1, (h, w, 1))
    x = rng.random((n, h, w, 1)).astype(np.float32)
    blurred = blur_images(x, 1.5)

    def H(images):
        return 10.0 + np.asarray(images, np.float64).reshape(len(images), -1) @ v.reshape(-1)

    a = (v * (x.astype(np.float64) - blurred)).reshape(n, -1)
    res = metrics.uncertainty_curves(H, x, a.reshape(x.shape), urc_at=(0.01, 0.05))
    s = np.concatenate([np.zeros((n, 1)), np.cumsum(-np.sort(-a, axis=1), axis=1)], axis=1)
    h_x = H(x)
    unc = res["eic"].extra["uncertainty"]
    np.testing.assert_allclose(unc, h_x[:, None] - s, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(unc[:, -1], H(blurred), rtol=1e-9)
    urc = np.maximum.accumulate(s / h_x[:, None], axis=1)
    np.testing.assert_allclose(res["urc@1%"].curves, urc, rtol=1e-9, atol=1e-12)
    for name, pixels in (("urc@1%", 1), ("urc@5%", 7)):        # rint(0.01·144), rint(0.05·144)
        np.testing.assert_allclose(res[name].per_image, urc[:, pixels], rtol=1e-9, atol=1e-12)
        assert res[name].value == pytest.approx(urc[:, pixels].mean(), rel=1e-9, abs=1e-12)
    eic_curves = (unc / unc[:, -1:])[:, ::-1]
    axis = np.arange(h * w + 1) / (h * w)
    np.testing.assert_allclose(res["eic"].curves, eic_curves, rtol=1e-12)
    np.testing.assert_allclose(res["eic"].x, axis, atol=1e-15)
    np.testing.assert_allclose(res["eic"].per_image, 1 - np.trapezoid(eic_curves, axis, axis=1),
                               rtol=1e-12)
    assert res["eic"].value == pytest.approx(1 - np.trapezoid(eic_curves.mean(0), axis),
                                             rel=1e-12)
    # the removal states themselves: round(f·P) most positive pixels blurred
    states = _removal_states(x, a, axis[::12], blurred)
    np.testing.assert_allclose(unc[:, ::12], H(states.reshape(-1, h, w, 1)).reshape(n, -1),
                               rtol=1e-9)


def test_eic_information_axes_are_the_normalised_information_of_the_states(uncertainty_case):
    """The EIC's x-axis with ``information=`` is the authors' (Perez et al., UAI 2022, §4.1,
    their evaluation scripts): the information ratio of each state of the removal pass to the
    original's, median over images, minus 1, made non-decreasing along the *removal* (running
    max from x), divided by its value at the blurred image, mirrored to run from 0 (blurred)
    to 1 (x); recomputed here from the states with Pillow / scikit-image. Binary images, so
    that both measures rise as pixels are blurred (the authors' axis is not degenerate)."""
    import io

    from PIL import Image
    from skimage.measure import shannon_entropy

    def png_size(u8):
        buffer = io.BytesIO()
        Image.fromarray(u8[..., 0]).save(buffer, format="png", optimize=False)
        return buffer.tell()

    measures = {"compression": png_size, "shannon": lambda u8: shannon_entropy(u8, base=2)}
    c = uncertainty_case
    x = (c["x"] > 0.5).astype(np.float32)
    exact = c["v"] * (x - blur_images(x, 1.5))
    n = x.shape[0]
    decreasing = []
    for info, measure in measures.items():
        r = metrics.eic(c["H"], x, exact, information=info, steps=12, aggregate="median")
        fractions = r.extra["fractions"]
        np.testing.assert_array_equal(fractions, np.union1d(np.linspace(0, 1, 13), [0.01, 0.05]))
        states = _removal_states(x, exact, fractions, blur_images(x, 1.5))
        u8 = np.round(states * 255.0).clip(0, 255).astype(np.uint8)
        values = np.array([[measure(u8[i, j]) for j in range(len(fractions))]
                           for i in range(n)], np.float64)

        def normalised_axis(ratio):                      # rows in insertion order
            d = np.maximum.accumulate(ratio[..., ::-1] - 1, axis=-1)[..., ::-1]
            return 1 - d / d[..., :1]

        ratio = (values / values[:, :1])[:, ::-1]
        decreasing.append(bool(np.any(np.diff(ratio[:, ::-1], axis=1) < 0)))   # along removal
        np.testing.assert_allclose(r.extra["information_ratio"], ratio, rtol=1e-12)
        np.testing.assert_allclose(r.x, normalised_axis(np.median(ratio, axis=0)),
                                   rtol=1e-12, atol=1e-12)
        unc = c["H"](states.reshape((-1,) + x.shape[1:])).reshape(n, -1)
        np.testing.assert_allclose(r.extra["uncertainty"], unc, rtol=1e-12)
        eic_curves = (unc / unc[:, -1:])[:, ::-1]
        per_image = 1 - np.array([np.trapezoid(eic_curves[i], normalised_axis(ratio[i]))
                                  for i in range(n)])
        np.testing.assert_allclose(r.per_image, per_image, rtol=1e-12, atol=1e-12)
        assert not r.extra["fallback"].any() and not r.extra["aggregate_fallback"]
    assert any(decreasing)        # some information ratio decreases: the running max matters
    r = metrics.urc(c["H"], x, exact, at=0.05, steps=10)
    assert r.extra["fraction"] == 0.05                  # the urc_at point is on the grid


def test_eic_with_entropy_model_function(cnn, images):
    """The intended use: a ModelFunction whose target is the predictive entropy."""
    def entropy(outputs, class_idx):
        p = tf.nn.softmax(outputs, axis=-1)
        return -tf.reduce_sum(p * tf.math.log(p + 1e-12), axis=-1)

    mf = tfpath.ModelFunction(cnn, target=entropy)
    attr = tfpath.IntegratedGradients().GetMaskBatch(images, mf, x_steps=8,
                                                     x_baseline=blur_images(images, 1.5))
    res = metrics.uncertainty_curves(mf, images, attr, steps=16)
    np.testing.assert_allclose(res["eic"].extra["uncertainty"][:, 0], mf.predict(images),
                               rtol=1e-5)
    assert np.isfinite(res["eic"].value) and np.isfinite(res["urc@5%"].value)
    with pytest.raises(ValueError, match="uncertainty"):
        metrics.uncertainty_curves(tfpath.ModelFunction(cnn), images, attr)  # needs a class


# ----------------------------------------------------------------------- sanity
@pytest.fixture(scope="module")
def trained_digits():
    from tfpath.datasets import load_digits
    from tfpath.zoo import small_cnn, train_classifier
    split = load_digits(size=None)
    model = small_cnn(split.input_shape, 10, width=8, seed=0)
    train_classifier(model, split.x_train, split.y_train, epochs=4, batch_size=64)
    return model, split.x_test[:8], split.y_test[:8]


def sobel_explainer(model_function, images, class_idx):
    """A model-independent 'explanation': edge magnitude of the image."""
    return np.hypot(sobel(images, axis=1), sobel(images, axis=2))


def test_randomization_decorrelates_gradients_not_edges(trained_digits):
    model, x, y = trained_digits
    grads = metrics.model_randomization(model, x, y, tfpath.GradientSaliency())
    edges = metrics.model_randomization(model, x, y, sobel_explainer)
    assert grads.layers == edges.layers == ["logits", "conv2", "conv1"]
    assert grads.spearman.shape == (3, 8)
    np.testing.assert_allclose(edges.mean, 1.0)
    assert grads.mean[-1] < 0.5, grads.table()          # all layers random: decorrelated
    assert grads.mean[-1] < edges.mean[-1] - 0.5
    ig = metrics.model_randomization(model, x, y, tfpath.IntegratedGradients(),
                                     layers=["logits", "conv2", "conv1"],
                                     explainer_kwargs={"x_steps": 8})
    # IG multiplies by the input (black baseline), so it keeps some of the input's structure
    # after randomisation (Adebayo et al. 2018, Gradient⊙Input): more than plain gradients
    assert grads.mean[-1] < ig.mean[-1]
    # the original model is untouched
    before = model.get_weights()
    metrics.model_randomization(model, x[:2], y[:2], tfpath.GradientSaliency(), layers=["conv1"])
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_randomization_errors(trained_digits):
    model, x, y = trained_digits
    with pytest.raises(ValueError, match="layers"):
        metrics.model_randomization(model, x, y, sobel_explainer, layers=["nope"])
    with pytest.raises(TypeError, match="model"):
        metrics.model_randomization(lambda v: v, x, y, sobel_explainer)
    with pytest.raises(TypeError, match="explainer"):
        metrics.model_randomization(model, x, y, 3)


@pytest.mark.parametrize("steps,urc_at", [(None, (0.01, 0.05)), (10, (0.1,)),
                                          (10, (0.01, 0.05)), (4, (0.01,)), (20, (0.03, 0.37))])
def test_eic_area_is_exact_on_closed_form_case(steps, urc_at):
    """H = 1 − ¾·t² with t the fraction of x's pixels revealed into the blurred image:
    EIC(t) = H(t)/H(0), AOC = 1 − ∫₀¹ (1 − ¾t²) dt = 0.25 exactly, whatever the grid. The
    x-axis of the reversed (insertion) curve must be 1 − fractions[::-1]; with ``fractions``
    itself, the urc_at points near 0 gave 0.334 (steps=10) and 0.357 (steps=4)."""
    rng = np.random.default_rng(1)
    x = rng.random((2, 40, 40, 1)).astype(np.float32)     # 1600 px: every fraction is exact

    def H(images):
        revealed = np.isclose(np.asarray(images)[None], x[:, None]).mean(axis=(2, 3, 4))
        t = revealed.max(axis=0)                   # each state comes from one of the images
        return 1.0 - 0.75 * t ** 2

    res = metrics.uncertainty_curves(H, x, rng.normal(size=x.shape), steps=steps,
                                     urc_at=urc_at)["eic"]
    grid = res.x
    h = np.diff(grid).max()
    tol = 1.5 * h ** 2 / 12 + 1e-9                # trapezoid error bound: |f''|·h²/12, f'' = 1.5
    assert res.value == pytest.approx(0.25, abs=tol)
    np.testing.assert_allclose(res.per_image, 0.25, atol=tol)
    assert grid[0] == 0 and grid[-1] == 1 and np.all(np.diff(grid) > 0)
    np.testing.assert_allclose(res.curve, 1.0 - 0.75 * grid ** 2, atol=1e-6)

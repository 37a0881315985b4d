"""The streaming engine: batching, chunking, per-input classes, convergence of the rules."""
import numpy as np
import pytest

import tfpath
from tfpath import engine


@pytest.fixture(scope="module")
def mf(cnn):
    return tfpath.ModelFunction(cnn, target="logit")


METHODS = [
    (tfpath.IntegratedGradients, dict(x_steps=12)),
    (tfpath.IntegratedGradients, dict(x_steps=12, integrator="idgi")),
    (tfpath.BlurIG, dict(steps=12, max_sigma=5)),
    (tfpath.BlurIG, dict(steps=12, max_sigma=5, integrator="idgi")),
    (tfpath.GuidedIG, dict(x_steps=12)),
    (tfpath.GuidedIG, dict(x_steps=12, integrator="idgi")),
]


@pytest.mark.parametrize("method,kwargs", METHODS)
def test_batch_equals_one_by_one_with_per_input_classes(mf, images, method, kwargs):
    classes = [0, 3, 1, 4]
    batch = method().GetMaskBatch(images, mf, {"class_idx": classes}, **kwargs)
    for i, c in enumerate(classes):
        single = method().GetMask(images[i], mf, {"class_idx": c}, **kwargs)
        np.testing.assert_allclose(batch[i], single, rtol=1e-4,
                                   atol=1e-5 * np.abs(single).max())


@pytest.mark.parametrize("method,kwargs", METHODS)
@pytest.mark.parametrize("batch_size", [1, 3, 5, 64])
def test_chunk_size_does_not_change_the_result(mf, images, method, kwargs, batch_size):
    ref = method().GetMaskBatch(images[:3], mf, {"class_idx": 2}, **kwargs)
    got = method().GetMaskBatch(images[:3], mf, {"class_idx": 2}, batch_size=batch_size,
                                **kwargs)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())


def test_model_calls_never_exceed_batch_size(mf, images):
    rows = []

    def recording(x_batch, call_model_args=None, expected_keys=None):
        rows.append(len(x_batch))
        return mf(x_batch, call_model_args, expected_keys)

    tfpath.IntegratedGradients().GetMaskBatch(images, recording, {"class_idx": 1}, x_steps=50,
                                              batch_size=8)
    assert max(rows) <= 8 and sum(rows) == 4 * 50  # (no call beyond the path's points)
    rows.clear()
    tfpath.GuidedIG().GetMaskBatch(images, recording, {"class_idx": 1}, x_steps=20,
                                   batch_size="auto")
    assert rows == [4] * 20                         # one call per step for the whole batch
    rows.clear()
    tfpath.GuidedIG().GetMaskBatch(images, recording, {"class_idx": 1}, x_steps=20)
    assert rows == [1] * 80                         # PAIR's calls: one point per call


def test_automatic_chunks_bound_the_memory_of_each_model_call():
    """With batch_size="auto" no model call holds more than AUTO_CHUNK_BYTES of float32 points
    (or one point), and the calls cover every path node exactly once."""
    sizes = [1, 784, 128 * 128 * 3, 224 * 224 * 3, 10 ** 9]
    rows = [engine.auto_rows(n) for n in sizes]
    assert all(r >= 1 for r in rows) and rows == sorted(rows, reverse=True)
    assert all(r * n * 4 <= engine.AUTO_CHUNK_BYTES or r == 1 for r, n in zip(rows, sizes))
    calls = []

    def recording(x_batch, call_model_args=None, expected_keys=None):
        calls.append(len(x_batch))
        grads = np.ones_like(x_batch)
        return {tfpath.INPUT_OUTPUT_GRADIENTS: grads}

    x = np.random.default_rng(0).random((128, 128, 3)).astype(np.float32)
    tfpath.IntegratedGradients().GetMask(x, recording, x_steps=100, batch_size="auto")
    limit = engine.auto_rows(x.size)
    assert limit < 100 and max(calls) <= limit and sum(calls) == 100, calls


def test_details_shapes_and_path_values(mf, images):
    d = tfpath.IntegratedGradients().GetMaskBatchWithDetails(images[:2], mf, {"class_idx": 1},
                                                             x_steps=9)
    assert d.mask.shape == images[:2].shape and d.mask.dtype == np.float32
    assert d.path_values.shape == (2, 9) and d.convergence_delta.shape == (2,)
    # the path starts at the baseline and ends at the input
    np.testing.assert_allclose(d.path_values[:, 0], d.start_value, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d.path_values[:, -1], d.end_value, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d.end_value, mf.predict(images[:2], 1), rtol=1e-5)
    one = tfpath.IntegratedGradients().GetMaskWithDetails(images[0], mf, {"class_idx": 1},
                                                          x_steps=9)
    assert np.ndim(one.convergence_delta) == 0 and one.path_values.shape == (9,)


def test_convergence_delta_shrinks_with_steps(smooth_cnn):
    mf = tfpath.ModelFunction(smooth_cnn, target="logit")
    x = np.random.default_rng(4).random((10, 10, 1)).astype(np.float32) * 2
    ig = tfpath.IntegratedGradients()
    deltas = [abs(ig.GetMaskWithDetails(x, mf, {"class_idx": 0}, x_steps=s,
                                        integrator="left").convergence_delta)
              for s in (4, 16, 64, 256)]
    assert all(a > b for a, b in zip(deltas, deltas[1:])), deltas
    assert deltas[-1] < deltas[0] / 20


def test_trapezoid_and_gauss_legendre_beat_left_riemann(smooth_cnn):
    mf = tfpath.ModelFunction(smooth_cnn, target="logit")
    rng = np.random.default_rng(5)
    ig = tfpath.IntegratedGradients()
    for _ in range(3):
        x = rng.random((10, 10, 1)).astype(np.float32) * 2
        err = {r: abs(ig.GetMaskWithDetails(x, mf, {"class_idx": 1}, x_steps=16,
                                            integrator=r).convergence_delta)
               for r in ("left", "trapezoid", "gauss_legendre")}
        assert err["trapezoid"] < err["left"] and err["gauss_legendre"] < err["left"], err
        assert err["gauss_legendre"] < err["trapezoid"], err


def test_a_call_model_function_is_compiled_once_and_reused_safely(mf, images):
    def cmf(x_batch, call_model_args=None, expected_keys=None):
        return mf(x_batch, call_model_args, expected_keys)

    ig = tfpath.IntegratedGradients()
    for c, integrator in [(0, "linspace_mean"), (3, "idgi"), (1, "linspace_mean"), (2, "idgi")]:
        ours = ig.GetMaskWithDetails(images[1], cmf, {"class_idx": c}, x_steps=8,
                                     integrator=integrator)
        fast = ig.GetMaskWithDetails(images[1], mf, {"class_idx": c}, x_steps=8,
                                     integrator=integrator)
        np.testing.assert_allclose(ours.mask, fast.mask, rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(ours.path_values, fast.path_values, rtol=1e-5)
    evaluator = engine.CallbackEvaluator.for_function(cmf, None, False)
    assert len(evaluator.cache) == 2          # one compiled loop per integrator kind


def test_guided_inner_loop_guard_raises_instead_of_stopping_silently(mf, images):
    from tfpath import baselines, integrate
    from tfpath.paths import GuidedPath
    import tensorflow as tf
    path = GuidedPath(steps=4, fraction=0.05, max_dist=0.02, max_inner_iterations=1)
    rule = integrate.Rule("left")
    x = images[:2]
    with pytest.raises(tf.errors.InvalidArgumentError, match="max_inner_iterations=1"):
        engine.integrate(engine.ModelEvaluator(mf), path, rule, x,
                         baselines.single_baseline(None, x), rule.schedule(path, 4, "left"),
                         np.array([0, 1], np.int32))


@pytest.mark.parametrize("accelerator", [False, True], ids=["numpy", "tf.sort"])
def test_guided_order_statistic_is_the_lower_quantile_of_each_row(accelerator, monkeypatch):
    """Guided IG's threshold is PAIR's np.quantile(..., interpolation='lower') of every row,
    inf entries (features already at their bound) and ties included, by either route."""
    import tensorflow as tf
    from tfpath.paths.guided import kth_smallest
    if accelerator:                          # the route taken where a GPU is visible
        monkeypatch.setattr(tf.config, "list_logical_devices",
                            lambda kind=None: ["GPU:0"] if kind == "GPU" else [])
    rng = np.random.default_rng(0)
    values = np.abs(rng.normal(size=(5, 37))).astype(np.float32)
    values[1, ::3] = np.inf
    values[2] = np.round(values[2], 1)                        # ties
    values[3] = np.inf
    for fraction in (0.0, 0.25, 0.5, 1.0):
        k = int(np.floor(fraction * (values.shape[1] - 1)))
        got = tf.function(lambda v: kth_smallest(v, k))(tf.constant(values)).numpy()
        np.testing.assert_array_equal(
            got, np.quantile(values, fraction, axis=1, method="lower"))

"""Degenerate calls get clear messages: one image to GetMaskBatch, a model without gradient
path, and attributions with F(x) ≈ F(x') (a warning)."""
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfpath

PATH_METHODS = [tfpath.IntegratedGradients, tfpath.BlurIG, tfpath.GuidedIG]
ALL_METHODS = [tfpath.GradientSaliency] + PATH_METHODS
SHAPE = (6, 6, 1)


def _keras(last):
    inputs = keras.Input(SHAPE)
    h = keras.layers.Dense(3)(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, last(h))


@pytest.fixture(scope="module")
def mf():
    keras.utils.set_random_seed(0)
    return tfpath.ModelFunction(_keras(lambda h: keras.layers.Dense(2)(h)), target="logit")


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(0).random(SHAPE).astype(np.float32)


# ------------------------------------------------------------------ one image to GetMaskBatch
@pytest.mark.parametrize("method", ALL_METHODS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("public", ["GetMaskBatch", "GetMaskBatchWithDetails"])
def test_one_image_to_get_mask_batch(mf, x, method, public):
    with pytest.raises(ValueError) as err:
        getattr(method(), public)(x, mf, {"class_idx": 0})
    msg = str(err.value)
    assert f"{public} expects a batch [B, H, W, C]" in msg
    assert "GetMask" in msg and "takes one image [H, W, C]" in msg
    assert "(6, 6, 1)" in msg and "(6, 1)" not in msg


def test_one_image_to_blur_ig_batch_without_declared_shape(x):
    mf = tfpath.ModelFunction(lambda t: tf.reduce_sum(t, axis=[1, 2, 3]), target="score")
    with pytest.raises(ValueError, match=r"BlurIG\.GetMaskBatch expects a batch \[B, H, W, C\]"):
        tfpath.BlurIG().GetMaskBatch(x, mf)


def test_a_batch_to_get_mask(mf, x):
    with pytest.raises(ValueError, match=r"x_value: IntegratedGradients\.GetMask takes one "
                                         r"input.*IntegratedGradients\.GetMaskBatch"):
        tfpath.IntegratedGradients().GetMask(np.stack([x, x]), mf, {"class_idx": 0})


def test_batch_of_another_shape_names_x_batch(mf):
    with pytest.raises(ValueError, match=r"x_batch: .*\(6, 6, 1\).*received \(5, 6, 1\)"):
        tfpath.IntegratedGradients().GetMaskBatch(np.zeros((2, 5, 6, 1), np.float32), mf,
                                                  {"class_idx": 0})


# ------------------------------------------------------------------ no gradient path
NON_DIFFERENTIABLE = {
    "round": lambda h: keras.layers.Lambda(lambda t: tf.round(t))(h),
    "stop_gradient": lambda h: keras.layers.Lambda(lambda t: tf.stop_gradient(t))(h),
    "argmax": lambda h: keras.layers.Lambda(
        lambda t: tf.cast(tf.argmax(t, axis=-1)[:, None], tf.float32) * [1.0, -2.0, 3.0])(h),
    "ignores the input": lambda h: keras.layers.Lambda(
        lambda t: tf.ones((tf.shape(t)[0], 3)))(h),
}


@pytest.mark.parametrize("method", ALL_METHODS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("kind", list(NON_DIFFERENTIABLE))
def test_model_without_gradient_path_names_call_model_function(x, method, kind):
    mf = tfpath.ModelFunction(_keras(NON_DIFFERENTIABLE[kind]), target="logit")
    kwargs = {} if method is tfpath.GradientSaliency else (
        dict(steps=4) if method is tfpath.BlurIG else dict(x_steps=4))
    with pytest.raises(ValueError) as err:
        method().GetMask(x, mf, {"class_idx": 0}, **kwargs)
    msg = str(err.value)
    assert msg.startswith("call_model_function: the model has no gradient path from the input "
                          "to the target")
    assert "in user code" not in msg                  # not autograph's wrapped traceback
    assert err.value.__suppress_context__


# ------------------------------------------------------------------ degenerate attributions
def constant(t):
    """Differentiable, with zero gradient: F(x) = F(x') = 1 for every x."""
    return 0.0 * tf.reduce_sum(t, axis=[1, 2, 3]) + 1.0


def squares(t):
    return tf.reduce_sum(t * t, axis=[1, 2, 3])


def _degenerate_warnings(record):
    return [w for w in record if issubclass(w.category, UserWarning)
            and "degenerate attribution" in str(w.message)]


@pytest.mark.parametrize("method", PATH_METHODS, ids=lambda m: m.__name__)
def test_constant_model_warns(x, method):
    mf = tfpath.ModelFunction(constant, target="score")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        method().GetMaskWithDetails(x, mf)
    found = _degenerate_warnings(record)
    assert len(found) == 1
    msg = str(found[0].message)
    assert f"{method.__name__}: degenerate attribution for input [0]" in msg
    assert "F(x) = 1" in msg and "F(x') = [1" in msg
    assert found[0].filename == __file__              # points at the user's call


def test_untrained_zero_weight_model_warns_once_per_call_naming_the_inputs():
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(3, kernel_initializer="zeros", bias_initializer="zeros")(inputs)
    mf = tfpath.ModelFunction(keras.Model(inputs, outputs), target="logit")
    batch = np.random.default_rng(1).random((3, 4)).astype(np.float32)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        tfpath.IntegratedGradients().GetMaskBatchWithDetails(batch, mf, {"class_idx": 1})
    found = _degenerate_warnings(record)
    assert len(found) == 1
    assert "inputs [0, 1, 2]" in str(found[0].message)


def test_only_the_degenerate_inputs_are_named():
    mf = tfpath.ModelFunction(squares, target="score")
    batch = np.stack([np.zeros(SHAPE), np.ones(SHAPE)]).astype(np.float32)   # F(0) = F(x') = 0
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        tfpath.IntegratedGradients().GetMaskBatchWithDetails(batch, mf)
    found = _degenerate_warnings(record)
    assert len(found) == 1 and "for input [0]:" in str(found[0].message)


@pytest.mark.parametrize("method", ["ig", "ig_idgi", "guided_idgi", "blur"])
def test_plain_get_mask_warns(method):
    """The engine returns F at both ends of every path, so plain GetMask warns too (IDGI's
    solid-black maps of untrained models)."""
    mf = tfpath.ModelFunction(constant, target="score")
    x = np.ones(SHAPE, np.float32)
    calls = {"ig": lambda: tfpath.IntegratedGradients().GetMask(x, mf),
             "ig_idgi": lambda: tfpath.IntegratedGradients().GetMask(x, mf, integrator="idgi"),
             "guided_idgi": lambda: tfpath.GuidedIG().GetMask(x, mf, x_steps=8,
                                                              integrator="idgi"),
             "blur": lambda: tfpath.BlurIG().GetMask(x, mf, steps=8)}
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        calls[method]()
    assert len(_degenerate_warnings(record)) == 1


def test_expected_gradients_warns():
    mf = tfpath.ModelFunction(constant, target="score")
    refs = np.random.default_rng(2).random((4,) + SHAPE).astype(np.float32)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        tfpath.ExpectedGradients().GetMaskWithDetails(np.ones(SHAPE, np.float32), mf,
                                                      references=refs, nsamples=4, seed=0)
    assert len(_degenerate_warnings(record)) == 1


def test_plain_expected_gradients_reads_f_along_its_paths():
    """Without details F at the references is not evaluated: the warning then reads F at the
    nodes. A constant model warns; F(x) = F(x') with F varying in between warns only with
    details (its attribution does sum to ~0, but the map is not meaningless)."""
    refs = np.zeros((3,) + SHAPE, np.float32)
    ones = np.ones(SHAPE, np.float32)
    bump = tfpath.ModelFunction(lambda t: tf.reduce_sum((t - 0.5) ** 2, axis=[1, 2, 3]),
                                target="score")                   # F(1) = F(0), F(0.5) = 0
    eg = tfpath.ExpectedGradients()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        eg.GetMask(ones, tfpath.ModelFunction(constant, target="score"), references=refs,
                   nsamples=8, seed=0)
        plain = _degenerate_warnings(record)
        assert len(plain) == 1 and "F on the path = within [1., 1.]" in str(plain[0].message)
        eg.GetMask(ones, bump, references=refs, nsamples=8, seed=0)
        assert len(_degenerate_warnings(record)) == 1
        eg.GetMaskWithDetails(ones, bump, references=refs, nsamples=8, seed=0)
        assert len(_degenerate_warnings(record)) == 2


@pytest.mark.parametrize("method", PATH_METHODS, ids=lambda m: m.__name__)
def test_normal_model_does_not_warn(x, method):
    mf = tfpath.ModelFunction(squares, target="score")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        method().GetMaskWithDetails(x, mf)
        method().GetMaskBatchWithDetails(np.stack([x, x + 1]), mf)
        method().GetMaskWithDetails(x, mf, integrator="idgi")
    assert _degenerate_warnings(record) == []


def test_gradient_saliency_does_not_warn(x):
    mf = tfpath.ModelFunction(constant, target="score")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        tfpath.GradientSaliency().GetMaskWithDetails(x, mf)
        tfpath.GradientSaliency().GetMaskBatchWithDetails(x[None], mf)
    assert _degenerate_warnings(record) == []

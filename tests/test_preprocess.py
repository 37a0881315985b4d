"""ModelFunction(preprocess=...): F(preprocess(x)) with the preprocessing inside the gradient."""
import importlib

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfpath
from tfpath import preprocessing
from tfpath.zoo import small_cnn

GRADS, VALUES = tfpath.INPUT_OUTPUT_GRADIENTS, tfpath.OUTPUT_LAYER_VALUES


def test_resolve_accepts_none_names_ranges_and_callables():
    assert preprocessing.resolve(None) is None
    fn = lambda x: x  # noqa: E731
    assert preprocessing.resolve(fn) is fn
    pixels = tf.constant([[0.0, 127.5, 255.0]])
    for spec in ("-1,1", (-1, 1), [-1.0, 1.0]):
        np.testing.assert_allclose(preprocessing.resolve(spec)(pixels), [[-1, 0, 1]], atol=1e-6)
    np.testing.assert_allclose(preprocessing.resolve("0,1")(pixels), [[0, 0.5, 1]], atol=1e-6)
    np.testing.assert_allclose(preprocessing.resolve("mobilenet_v2")(pixels), [[-1, 0, 1]],
                               atol=1e-6)
    assert preprocessing.resolve("MobileNet-V2").name == "mobilenet_v2"


@pytest.mark.parametrize("spec, message", [
    ("mobilenet_v9", "mobilenet_v2"),          # the valid names are listed
    ("1,0", "LOW < HIGH"),
    ("1,x", "LOW,HIGH"),
    ((0, 1, 2), "(low, high)"),
])
def test_resolve_errors(spec, message):
    with pytest.raises(ValueError, match="preprocess") as e:
        preprocessing.resolve(spec)
    assert message in str(e.value)


def test_resolve_type_error_and_model_function_names_the_argument():
    with pytest.raises(TypeError, match="preprocess"):
        preprocessing.resolve(3)
    with pytest.raises(ValueError, match="valid|expected one of"):
        tfpath.ModelFunction(lambda x: x[:, 0], target="score", preprocess="imagenet")


@pytest.mark.parametrize("family", sorted(preprocessing.FAMILIES))
def test_every_family_traces_in_tf_function_and_has_a_gradient(family):
    x = np.random.default_rng(0).uniform(0, 255, (2, 4, 4, 3)).astype(np.float32)
    expected = importlib.import_module(
        f"keras.applications.{preprocessing.FAMILIES[family]}").preprocess_input(x.copy())
    fn = preprocessing.resolve(family)
    traced = tf.function(fn)(tf.constant(x))
    np.testing.assert_allclose(traced.numpy(), np.asarray(expected), rtol=1e-5, atol=1e-4)
    with tf.GradientTape() as tape:
        t = tf.constant(x)
        tape.watch(t)
        y = tf.reduce_sum(fn(t) ** 2)
    assert tape.gradient(y, t) is not None


def test_gradient_is_the_chain_rule_through_an_affine_preprocess():
    # g(y) = Σ w·y² + Σ sin(y); p(x) = a·x + b with "LOW,HIGH" = "-1,1": a = 2/255, b = -1
    w = tf.constant(np.linspace(0.5, 2.0, 6), tf.float32)

    def g(y):
        return tf.reduce_sum(w * y ** 2 + tf.sin(y), axis=1)

    a, b = 2.0 / 255.0, -1.0
    mf = tfpath.ModelFunction(g, target="score", preprocess="-1,1")
    x = np.random.default_rng(1).uniform(0, 255, (3, 6)).astype(np.float32)
    out = mf(x, {}, [GRADS, VALUES])
    y = a * x.astype(np.float64) + b
    np.testing.assert_allclose(out[VALUES], (w.numpy() * y ** 2 + np.sin(y)).sum(1), rtol=1e-5)
    closed_form = a * (2 * w.numpy() * y + np.cos(y))
    np.testing.assert_allclose(out[GRADS], closed_form, rtol=1e-4, atol=1e-7)
    # and a central finite difference of the composed function agrees too
    eps = 0.5
    for i in range(6):
        step = np.zeros_like(x)
        step[:, i] = eps
        fd = (mf.predict(x + step) - mf.predict(x - step)) / (2 * eps)
        np.testing.assert_allclose(out[GRADS][:, i], fd, rtol=2e-2, atol=1e-4)


@pytest.fixture(scope="module")
def cnn_and_image():
    model = small_cnn((8, 8, 3), num_classes=4, width=4, seed=2)
    image = np.random.default_rng(2).uniform(0, 255, (8, 8, 3)).astype(np.float32)
    return model, image


def test_mobilenet_v2_ig_equals_ig_of_a_lambda_wrapped_model(cnn_and_image):
    model, image = cnn_and_image
    mf = tfpath.ModelFunction(model, preprocess="mobilenet_v2")
    inputs = keras.Input((8, 8, 3))
    wrapped = keras.Model(inputs, model(keras.layers.Lambda(lambda t: t / 127.5 - 1.0)(inputs)))
    reference = tfpath.ModelFunction(wrapped)
    c = int(np.argmax(np.asarray(wrapped(image[None]))))
    black = np.zeros_like(image)
    ig = tfpath.IntegratedGradients()
    mask = ig.GetMask(image, mf, {"class_idx": c}, x_baseline=black, x_steps=16)
    expected = ig.GetMask(image, reference, {"class_idx": c}, x_baseline=black, x_steps=16)
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(mask, expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max())
    # the mask is in pixel space: completeness against F(p(x)) - F(p(black))
    details = ig.GetMaskWithDetails(image, mf, {"class_idx": c}, x_baseline=black,
                                    x_steps=16)
    np.testing.assert_allclose(float(details.end_value),
                               float(reference.predict(image[None], [c])[0]), rtol=1e-5)


def test_preprocess_reaches_layers_targets_and_features(cnn_and_image):
    model, image = cnn_and_image
    conv = [layer.name for layer in model.layers if "conv" in layer.name][-1]
    mf = tfpath.ModelFunction(model, preprocess="0,1", layer_name=conv)
    plain = tfpath.ModelFunction(model, layer_name=conv)
    keys = [tfpath.CONVOLUTION_LAYER_VALUES, VALUES]
    a = mf(image[None], {"class_idx": 1}, keys)
    b = plain(image[None] / 255.0, {"class_idx": 1}, keys)
    for k in keys:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6)
    retargeted = mf.with_target("probability")
    assert retargeted.preprocess is mf.preprocess
    np.testing.assert_allclose(retargeted.predict(image[None], [1]),
                               plain.with_target("probability").predict(image[None] / 255.0, [1]),
                               rtol=1e-5)
    features, _ = mf.features_numpy(image[None], None)
    expected, _ = plain.features_numpy(image[None] / 255.0, None)
    np.testing.assert_allclose(features, expected, rtol=1e-5, atol=1e-6)
    assert "preprocess" in repr(mf)

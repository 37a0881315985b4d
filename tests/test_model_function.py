"""ModelFunction: the PAIR call_model_function contract, output kinds, Keras flavours, XRAI."""
import numpy as np
import pytest
import saliency.core as pair
import tensorflow as tf

import tfpath


def test_pair_contract_keys(cnn, images):
    mf = tfpath.ModelFunction(cnn, target="probability")
    out = mf(images, {"class_idx": 2}, [tfpath.INPUT_OUTPUT_GRADIENTS, tfpath.OUTPUT_LAYER_VALUES])
    assert out[tfpath.INPUT_OUTPUT_GRADIENTS].shape == images.shape
    probs = tf.nn.softmax(cnn(images)).numpy()
    np.testing.assert_allclose(out[tfpath.OUTPUT_LAYER_VALUES], probs[:, 2], rtol=1e-5)
    # finite differences of the probability agree with the gradient
    e = np.zeros_like(images[:1])
    e[0, 4, 5, 1] = 1e-2
    fd = (mf.predict(images[:1] + e, 2) - mf.predict(images[:1] - e, 2)) / 2e-2
    assert np.isclose(fd[0], out[tfpath.INPUT_OUTPUT_GRADIENTS][0, 4, 5, 1], rtol=1e-2,
                      atol=1e-6)


def test_one_class_per_row(cnn, images):
    mf = tfpath.ModelFunction(cnn, target="logit")
    out = mf(images, {"class_idx": [0, 1, 2, 3]}, [tfpath.OUTPUT_LAYER_VALUES])
    logits = cnn(images).numpy()
    np.testing.assert_allclose(out[tfpath.OUTPUT_LAYER_VALUES], logits[np.arange(4), [0, 1, 2, 3]],
                               rtol=1e-5)


def test_batch_size_splits_calls(cnn, images):
    full = tfpath.ModelFunction(cnn)(images, {"class_idx": 1})
    split = tfpath.ModelFunction(cnn, batch_size=3)(images, {"class_idx": 1})
    np.testing.assert_allclose(split[tfpath.INPUT_OUTPUT_GRADIENTS],
                               full[tfpath.INPUT_OUTPUT_GRADIENTS], rtol=1e-5, atol=1e-7)
    # a model whose output is the size of the batch it is called on shows the calls' sizes
    size = lambda x: tf.reduce_sum(x, axis=[1, 2, 3]) * 0.0 + tf.cast(tf.shape(x)[0], tf.float32)
    calls = tfpath.ModelFunction(size, target="score", batch_size=3)(
        images, None, [tfpath.OUTPUT_LAYER_VALUES])[tfpath.OUTPUT_LAYER_VALUES]
    np.testing.assert_array_equal(calls, [3, 3, 3, 1])
    whole = tfpath.ModelFunction(size, target="score")(
        images, None, [tfpath.OUTPUT_LAYER_VALUES])[tfpath.OUTPUT_LAYER_VALUES]
    np.testing.assert_array_equal(whole, [4, 4, 4, 4])


def test_convolution_keys_and_grad_cam(cnn, images):
    mf = tfpath.ModelFunction(cnn, target="logit", layer_name="conv2")
    out = mf(images[:2], {"class_idx": 1}, [tfpath.CONVOLUTION_LAYER_VALUES,
                                            tfpath.CONVOLUTION_OUTPUT_GRADIENTS])
    assert out[tfpath.CONVOLUTION_LAYER_VALUES].shape == (2, 6, 6, 16)
    assert out[tfpath.CONVOLUTION_OUTPUT_GRADIENTS].shape == (2, 6, 6, 16)
    cam = pair.GradCam().GetMask(images[0], mf, {"class_idx": 1})
    assert cam.shape == (12, 12, 3) and np.isfinite(cam).all() and cam.max() >= 0
    with pytest.raises(ValueError, match="layer_name.*no layer named"):
        tfpath.ModelFunction(cnn, layer_name="nope")
    with pytest.raises(ValueError, match="layer_name"):
        tfpath.ModelFunction(cnn)(images[:1], {"class_idx": 0}, [tfpath.CONVOLUTION_LAYER_VALUES])


def twin_without_softmax(model):
    """The same network with a linear last layer and the same weights (an independent oracle)."""
    import keras
    config = model.get_config()
    twin = keras.Model.from_config(config)
    twin.set_weights(model.get_weights())
    last = twin.layers[-1]
    head = keras.layers.Dense(last.units, name="twin_logits")
    out = head(last.input)
    head.set_weights(last.get_weights())
    return keras.Model(twin.inputs, out)


def test_softmax_models_are_detected(images):
    from tfpath.zoo import small_cnn
    model = small_cnn((12, 12, 3), 5, softmax=True)
    assert tfpath.ModelFunction(model, target="probability").output_kind == "probabilities"
    # target 'logit' on a softmax model differentiates the pre-softmax logits
    mf = tfpath.ModelFunction(model, target="logit")
    assert mf.output_kind == "logits" and mf.uses_pre_softmax_logits
    oracle = twin_without_softmax(model)
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logit = oracle(x)[:, 2]
    out = mf(images, {"class_idx": 2}, [tfpath.INPUT_OUTPUT_GRADIENTS, tfpath.OUTPUT_LAYER_VALUES])
    np.testing.assert_allclose(out[tfpath.OUTPUT_LAYER_VALUES], logit, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[tfpath.INPUT_OUTPUT_GRADIENTS], tape.gradient(logit, x),
                               rtol=1e-4, atol=1e-7)
    # the model itself is untouched: it still outputs probabilities
    np.testing.assert_allclose(model(x).numpy().sum(1), 1.0, rtol=1e-5)
    # a model that ends in softmax but is declared as logits is caught on its outputs
    declared = tfpath.ModelFunction(model, target="logit", output="logits")
    with pytest.raises(ValueError, match="output: .*look like probabilities"):
        tfpath.IntegratedGradients().GetMask(images[0], declared, {"class_idx": 0})


def test_logits_declared_as_probabilities_are_caught(cnn, images):
    mf = tfpath.ModelFunction(cnn, target="probability", output="probabilities")
    with pytest.raises(ValueError, match="output: .*look like logits"):
        tfpath.IntegratedGradients().GetMask(images[0], mf, {"class_idx": 0})


def test_tf_keras_model(images):
    import tf_keras
    model = tf_keras.Sequential([
        tf_keras.layers.Conv2D(4, 3, activation="relu", input_shape=(12, 12, 3)),
        tf_keras.layers.Flatten(), tf_keras.layers.Dense(3, activation="softmax")])
    mf = tfpath.ModelFunction(model, target="probability")
    assert mf.output_kind == "probabilities"
    d = tfpath.IntegratedGradients().GetMaskWithDetails(images[0], mf, {"class_idx": 1},
                                                        x_steps=16, integrator="idgi")
    # ReLU with zero biases: the gradient at the black baseline is exactly zero, so IDGI
    # skips that step and reports its share as the residual (IDGI on a zero-gradient step)
    assert d.idgi_residual != 0 and abs(d.convergence_delta + d.idgi_residual) < 1e-6
    with numpy_seed(0):
        gi = tfpath.GuidedIG().GetMask(images[0], mf, {"class_idx": 1}, x_steps=10)
    assert gi.shape == images[0].shape and np.isfinite(gi).all()


class numpy_seed:
    def __init__(self, seed):
        self.seed = seed

    def __enter__(self):
        self.state = np.random.get_state()
        np.random.seed(self.seed)

    def __exit__(self, *exc):
        np.random.set_state(self.state)


def test_keras_applications_model():
    import keras
    model = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), classes=4)
    mf = tfpath.ModelFunction(model, target="probability")
    assert mf.output_kind == "probabilities"
    x = np.random.default_rng(0).uniform(-1, 1, (32, 32, 3)).astype(np.float32)
    d = tfpath.IntegratedGradients().GetMaskWithDetails(x, mf, {"class_idx": 3}, x_steps=8,
                                                        integrator="idgi")
    assert d.mask.shape == x.shape and abs(d.convergence_delta) < 1e-6


@pytest.mark.parametrize("name", ["MobileNetV2", "MobileNet"])
def test_keras_applications_default_model_function_explains_logits(name):
    """Dense(softmax) (MobileNetV2) and Activation(softmax) (MobileNet) heads: the default
    ModelFunction gives logits whose softmax is the model's output."""
    import keras
    model = getattr(keras.applications, name)(weights=None, input_shape=(32, 32, 3), classes=4)
    mf = tfpath.ModelFunction(model)
    assert mf.output_kind == "logits" and mf.uses_pre_softmax_logits
    x = np.random.default_rng(1).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    logits = mf.call_model(tf.constant(x)).numpy()
    np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), model(x).numpy(), rtol=1e-4,
                               atol=1e-6)
    mask = tfpath.IntegratedGradients().GetMask(x[0], mf, {"class_idx": 1}, x_steps=4)
    assert mask.shape == x[0].shape and np.isfinite(mask).all() and np.abs(mask).max() > 0


def test_xrai_with_tfpath_masks_and_model_function(cnn):
    import keras
    # XRAI segments images of at least a few dozen pixels per side
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3, activation="tanh"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    mf = tfpath.ModelFunction(model, target="logit")
    x = np.random.default_rng(1).random((32, 32, 3)).astype(np.float32)
    args = {"class_idx": 2}
    base = tfpath.GuidedIG().GetMask(x, mf, args, x_steps=10, integrator="idgi")
    xrai = pair.XRAI()
    params = pair.XRAIParameters(steps=5)
    mask = xrai.GetMask(x, mf, args, base_attribution=base, extra_parameters=params)
    assert mask.shape == (32, 32) and np.isfinite(mask).all() and mask.max() > mask.min()
    # XRAI's own IG path calls tfpath.ModelFunction as a plain call_model_function
    mask2 = xrai.GetMask(x, mf, args, extra_parameters=params, batch_size=5)
    assert mask2.shape == (32, 32) and np.isfinite(mask2).all()


def test_model_function_errors(cnn, images):
    with pytest.raises(TypeError, match="model"):
        tfpath.ModelFunction(42)
    with pytest.raises(ValueError, match="output"):
        tfpath.ModelFunction(cnn, output="logprobs")
    with pytest.raises(ValueError, match="target: unknown name"):
        tfpath.ModelFunction(cnn, target="logitz")
    mf = tfpath.ModelFunction(cnn)
    with pytest.raises(ValueError, match="expected_keys"):
        mf(images, {"class_idx": 0}, ["GRADS"])
    with pytest.raises(TypeError, match="class_idx.*expected an int"):
        mf(images, {"class_idx": np.array([0.5, 1, 2, 3])})
    with pytest.raises(TypeError, match="x_value_batch.*floating"):
        mf(images.astype(np.int32), {"class_idx": 0})
    with pytest.raises(ValueError, match="batch_size"):
        tfpath.ModelFunction(cnn, batch_size=0)


def test_boundary_check_before_and_after_the_class_count_is_known(cnn, images):
    # the first check learns the class count from the outputs; later checks validate the
    # classes before the (single) compiled call of outputs and F(x)
    mf = tfpath.ModelFunction(cnn)
    for _ in range(2):
        with pytest.raises(ValueError, match=r"class_idx.*out of range.*5 classes"):
            mf.checked_outputs_and_values(images, np.array([0, 1, 5, 2]))
    outputs = cnn(images, training=False).numpy()
    for classes in ([0, 1, 2, 3], [4, 4, 0, 1]):
        got_outputs, values = mf.checked_outputs_and_values(images, np.array(classes))
        np.testing.assert_allclose(got_outputs, outputs, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(values, outputs[np.arange(4), classes], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"class_idx.*out of range.*5 classes"):
        mf.checked_outputs_and_values(images, np.array([0, -1, 2, 3]))

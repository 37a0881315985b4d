"""Bad input gets a clear error naming the argument; nothing fails silently."""
import numpy as np
import pytest
import tensorflow as tf

import tfpath

METHODS = [tfpath.GradientSaliency, tfpath.IntegratedGradients, tfpath.BlurIG, tfpath.GuidedIG]


@pytest.fixture(scope="module")
def mf(cnn):
    return tfpath.ModelFunction(cnn, target="logit")


@pytest.mark.parametrize("method", METHODS)
def test_wrong_input_shape(mf, method):
    with pytest.raises(ValueError, match=r"x_value.*\(12, 12, 3\)"):
        method().GetMask(np.zeros((10, 12, 3), np.float32), mf, {"class_idx": 0})


@pytest.mark.parametrize("method", METHODS)
def test_wrong_dtype(mf, images, method):
    with pytest.raises(TypeError, match="x_value: expected a real array"):
        method().GetMask(images[0] > 0.5, mf, {"class_idx": 0})
    # uint8 images are accepted as PAIR accepts them, with a warning about their scale
    with pytest.warns(UserWarning, match="x_value: a uint8 array"):
        method().GetMask((images[0] * 255).astype(np.uint8), mf, {"class_idx": 0})


@pytest.mark.parametrize("method", METHODS)
def test_nan_input(mf, images, method):
    x = images[0].copy()
    x[3, 3, 1] = np.nan
    with pytest.raises(ValueError, match="x_value.*NaN"):
        method().GetMask(x, mf, {"class_idx": 0})


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("c", [5, -1])
def test_class_out_of_range(mf, images, method, c):
    with pytest.raises(ValueError, match=r"class_idx.*out of range.*5 classes"):
        method().GetMask(images[0], mf, {"class_idx": c})


def test_class_out_of_range_in_a_batch(mf, images):
    with pytest.raises(ValueError, match="class_idx.*7"):
        tfpath.IntegratedGradients().GetMaskBatch(images[:2], mf, {"class_idx": [0, 7]})
    with pytest.raises(ValueError, match=r"class_idx.*2 ints \(one per row\)"):
        tfpath.IntegratedGradients().GetMaskBatch(images[:2], mf, {"class_idx": [0, 1, 2]})


def test_missing_class(mf, images):
    with pytest.raises(ValueError, match="class_idx.*needs a class"):
        tfpath.IntegratedGradients().GetMask(images[0], mf)


@pytest.mark.parametrize("method", [tfpath.IntegratedGradients, tfpath.GuidedIG])
def test_baseline_of_another_shape(mf, images, method):
    with pytest.raises(ValueError, match=r"x_baseline.*\(1, 12, 12, 3\)"):
        method().GetMask(images[0], mf, {"class_idx": 0},
                         x_baseline=np.zeros((12, 12, 1), np.float32))


def test_nan_baseline(mf, images):
    with pytest.raises(ValueError, match="x_baseline.*NaN"):
        tfpath.IntegratedGradients().GetMask(images[0], mf, {"class_idx": 0},
                                             x_baseline=np.full((12, 12, 3), np.nan, np.float32))


@pytest.mark.parametrize("method,arg", [(tfpath.IntegratedGradients, "x_steps"),
                                        (tfpath.BlurIG, "steps"), (tfpath.GuidedIG, "x_steps")])
@pytest.mark.parametrize("value", [0, -3])
def test_steps_below_one(mf, images, method, arg, value):
    with pytest.raises(ValueError, match=arg):
        method().GetMask(images[0], mf, {"class_idx": 0}, **{arg: value})


def test_non_integer_steps(mf, images):
    with pytest.raises(TypeError, match="x_steps"):
        tfpath.IntegratedGradients().GetMask(images[0], mf, {"class_idx": 0}, x_steps=2.5)


def test_idgi_needs_two_nodes(mf, images):
    with pytest.raises(ValueError, match="x_steps.*>= 2"):
        tfpath.IntegratedGradients().GetMask(images[0], mf, {"class_idx": 0}, x_steps=1,
                                             integrator="idgi")


def test_unknown_integrator_and_options(mf, images):
    with pytest.raises(ValueError, match="integrator"):
        tfpath.IntegratedGradients().GetMask(images[0], mf, {"class_idx": 0}, integrator="simpson")
    with pytest.raises(ValueError, match="integrator"):
        tfpath.GuidedIG().GetMask(images[0], mf, {"class_idx": 0}, integrator="trapezoid")
    with pytest.raises(ValueError, match="blur_convention"):
        tfpath.BlurIG().GetMask(images[0], mf, {"class_idx": 0}, integrator="idgi",
                                blur_convention="other")
    with pytest.raises(ValueError, match="fraction"):
        tfpath.GuidedIG().GetMask(images[0], mf, {"class_idx": 0}, fraction=0.0)
    with pytest.raises(ValueError, match="max_dist"):
        tfpath.GuidedIG().GetMask(images[0], mf, {"class_idx": 0}, max_dist=1.5)
    with pytest.raises(ValueError, match="max_sigma"):
        tfpath.BlurIG().GetMask(images[0], mf, {"class_idx": 0}, max_sigma=0)
    with pytest.raises(TypeError, match="unexpected keyword"):
        tfpath.IntegratedGradients().GetMask(images[0], mf, {"class_idx": 0}, steps=10)


def test_blur_ig_needs_images():
    mf = tfpath.ModelFunction(lambda x: tf.reduce_sum(x, axis=1), target="score")
    with pytest.raises(ValueError, match=r"x_value.*\[H, W, C\]"):
        tfpath.BlurIG().GetMask(np.ones(5, np.float32), mf)


@pytest.mark.parametrize("method", METHODS)
def test_empty_batch(mf, method):
    with pytest.raises(ValueError, match="x_batch.*empty"):
        method().GetMaskBatch(np.zeros((0, 12, 12, 3), np.float32), mf, {"class_idx": 0})


@pytest.mark.parametrize("method", METHODS)
def test_model_without_gradient_path(method):
    def rounds(x):                       # no gradient flows through an integer cast
        return tf.cast(tf.reduce_sum(tf.cast(x * 10, tf.int32), axis=[1, 2, 3]), tf.float32)

    mf = tfpath.ModelFunction(rounds, target="score")
    with pytest.raises(ValueError, match="model: the target has no gradient path"):
        method().GetMask(np.ones((6, 6, 1), np.float32), mf)


def test_bad_call_model_function(images):
    with pytest.raises(TypeError, match="call_model_function"):
        tfpath.IntegratedGradients().GetMask(images[0], "not a function")

    def no_grads(x_batch, call_model_args=None, expected_keys=None):
        return {}

    with pytest.raises(ValueError, match="call_model_function.*INPUT_OUTPUT_GRADIENTS"):
        tfpath.IntegratedGradients().GetMask(images[0], no_grads)

    def grads_only(x_batch, call_model_args=None, expected_keys=None):
        return {tfpath.INPUT_OUTPUT_GRADIENTS: np.ones_like(x_batch)}

    with pytest.raises(ValueError, match="OUTPUT_LAYER_VALUES"):
        tfpath.IntegratedGradients().GetMask(images[0], grads_only, integrator="idgi")
    # without IDGI or details, gradients alone are enough (PAIR's contract)
    assert np.isfinite(tfpath.IntegratedGradients().GetMask(images[0], grads_only)).all()


def test_error_raised_inside_the_compiled_loop_keeps_its_type(images):
    calls = []

    def fails_later(x_batch, call_model_args=None, expected_keys=None):
        calls.append(1)
        if len(calls) > 1:
            raise KeyError("boom")
        return {tfpath.INPUT_OUTPUT_GRADIENTS: np.ones_like(x_batch)}

    with pytest.raises(KeyError, match="boom"):
        tfpath.GuidedIG().GetMask(images[0], fails_later, x_steps=5)


def test_a_model_function_takes_call_model_args_as_a_dict(mf, images):
    with pytest.raises(TypeError, match="call_model_args"):
        tfpath.IntegratedGradients().GetMask(images[0], mf, 3)


def test_smoothgrad_arguments(mf, images):
    with pytest.raises(ValueError, match="nsamples"):
        tfpath.GradientSaliency().GetSmoothedMask(images[0], mf, {"class_idx": 0}, nsamples=0)
    with pytest.raises(ValueError, match="stdev_spread"):
        tfpath.GradientSaliency().GetSmoothedMask(images[0], mf, {"class_idx": 0},
                                                  stdev_spread=-1)


def test_blur_options_are_checked(mf, images):
    with pytest.raises(TypeError, match="sqrt"):
        tfpath.BlurIG().GetMask(images[0], mf, {"class_idx": 0}, sqrt="no")
    with pytest.raises(ValueError, match="blur_convention.*idgi"):
        tfpath.BlurIG().GetMask(images[0], mf, {"class_idx": 0}, blur_convention="canonical")


def test_float_class_index_is_refused_not_truncated(mf, images):
    with pytest.raises(TypeError, match="class_idx"):
        tfpath.IntegratedGradients().GetMask(images[0], mf, {"class_idx": 2.7})
    with pytest.raises(TypeError, match="class_idx"):
        mf.predict(images[:1], 1.0)

    def cmf(x_batch, call_model_args=None, expected_keys=None):
        return mf(x_batch, call_model_args, expected_keys)

    with pytest.raises(TypeError, match="class_idx"):
        tfpath.IntegratedGradients().GetMaskBatch(images[:2], cmf, {"class_idx": [0.5, 1.5]})


@pytest.mark.parametrize("integrator", ["linspace_mean", "idgi"])
def test_non_finite_gradients_raise(integrator):
    mf = tfpath.ModelFunction(lambda x: tf.reduce_sum(tf.sqrt(x), axis=1), target="score")
    with pytest.raises(ValueError, match="NaN or inf"):
        tfpath.IntegratedGradients().GetMask(np.ones(4, np.float32), mf, integrator=integrator)

    def nan_grads(x_batch, call_model_args=None, expected_keys=None):
        return {tfpath.INPUT_OUTPUT_GRADIENTS: np.full_like(x_batch, np.nan),
                tfpath.OUTPUT_LAYER_VALUES: np.zeros(len(x_batch))}

    with pytest.raises(ValueError, match="NaN or inf"):
        tfpath.GuidedIG().GetMask(np.ones(4, np.float32), nan_grads, x_steps=4,
                                  integrator=integrator if integrator == "idgi" else "left")


def test_class_targets_on_bayesian_outputs():
    from tfpath.uncertainty import DeepEnsemble
    import keras
    members = []
    for seed in (0, 1):
        keras.utils.set_random_seed(seed)
        members.append(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]))
    ensemble = DeepEnsemble(members)
    x = np.random.default_rng(0).random((2, 4)).astype(np.float32)
    probs = np.mean([tf.nn.softmax(m(x)).numpy() for m in members], axis=0)
    mf = tfpath.ModelFunction(ensemble, target="probability")
    np.testing.assert_allclose(mf.predict(x, 1), probs[:, 1], rtol=1e-5)   # mean predictive p
    with pytest.raises(ValueError, match="target: 'logit'.*Bayesian"):
        tfpath.IntegratedGradients().GetMask(x[0], tfpath.ModelFunction(ensemble, target="logit"),
                                             {"class_idx": 0})

"""Default settings give PAIR saliency's numbers, on the same inputs and call_model_function."""
import numpy as np
import pytest
import saliency.core as pair

import tfpath
from pair_oracle import keras_style_call_model_function, numpy2_shim_for_pair_guided_ig

RTOL = 1e-4


def assert_close(ours, theirs):
    """Agreement to RTOL relative to the mask's scale."""
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape
    scale = np.abs(theirs).max()
    assert scale > 0
    assert np.abs(ours - theirs).max() <= RTOL * scale, np.abs(ours - theirs).max() / scale


@pytest.fixture(scope="module")
def mf(cnn):
    return tfpath.ModelFunction(cnn, target="probability")


@pytest.fixture(scope="module")
def x(images):
    return images[0]


def test_gradient_saliency(cnn, mf, x):
    # PAIR's side takes its gradients from the standard GradientTape call_model_function,
    # independent of tfpath's compiled ModelFunction
    cmf = keras_style_call_model_function(cnn, probability=True)
    assert_close(tfpath.GradientSaliency().GetMask(x, mf, {"class_idx": 2}),
                 pair.GradientSaliency().GetMask(x, cmf, {"class_idx": 2}))


@pytest.mark.parametrize("steps", [1, 7, 25])
def test_integrated_gradients(mf, x, steps):
    base = np.full_like(x, 0.3)
    assert_close(tfpath.IntegratedGradients().GetMask(x, mf, {"class_idx": 2}, x_baseline=base,
                                                      x_steps=steps),
                 pair.IntegratedGradients().GetMask(x, mf, {"class_idx": 2}, x_baseline=base,
                                                    x_steps=steps, batch_size=steps))


def test_integrated_gradients_analytic(analytic_mf):
    x = np.array([1.0, 2.0, 0.5], np.float32)
    assert_close(tfpath.IntegratedGradients().GetMask(x, analytic_mf),
                 pair.IntegratedGradients().GetMask(x, analytic_mf))


@pytest.mark.parametrize("sqrt", [False, True])
def test_blur_ig(mf, x, sqrt):
    ours = tfpath.BlurIG().GetMask(x, mf, {"class_idx": 2}, steps=30, max_sigma=8, sqrt=sqrt)
    # PAIR evaluates its blur in the input dtype: float64 input keeps its finite differences
    # exact enough to compare (its float32 round-off alone is ~1e-5 of the mask)
    theirs = pair.BlurIG().GetMask(x.astype(np.float64), mf, {"class_idx": 2}, steps=30,
                                   max_sigma=8, sqrt=sqrt, batch_size=1)
    assert_close(ours, theirs)


def test_blur_ig_pair_defaults(mf, x):
    assert_close(tfpath.BlurIG().GetMask(x, mf, {"class_idx": 4}),
                 pair.BlurIG().GetMask(x.astype(np.float64), mf, {"class_idx": 4},
                                       batch_size=100))


@pytest.mark.parametrize("max_dist,fraction", [(0.02, 0.25), (1.0, 0.5), (0.1, 0.1)])
def test_guided_ig(mf, x, max_dist, fraction):
    kwargs = dict(x_steps=40, max_dist=max_dist, fraction=fraction)
    ours = tfpath.GuidedIG().GetMask(x, mf, {"class_idx": 2}, **kwargs)
    with numpy2_shim_for_pair_guided_ig():
        theirs = pair.GuidedIG().GetMask(x, mf, {"class_idx": 2}, **kwargs)
    assert_close(ours, theirs)


def test_guided_ig_with_a_plain_call_model_function(cnn, x):
    cmf = keras_style_call_model_function(cnn, probability=True)
    ours = tfpath.GuidedIG().GetMask(x, cmf, {"class_idx": 1}, x_steps=30)
    with numpy2_shim_for_pair_guided_ig():
        theirs = pair.GuidedIG().GetMask(x, cmf, {"class_idx": 1}, x_steps=30)
    assert_close(ours, theirs)


def test_plain_call_model_function_ig_and_blur(cnn, x):
    cmf = keras_style_call_model_function(cnn, probability=True)
    assert_close(tfpath.IntegratedGradients().GetMask(x, cmf, {"class_idx": 0}),
                 pair.IntegratedGradients().GetMask(x, cmf, {"class_idx": 0}))
    assert_close(tfpath.BlurIG().GetMask(x, cmf, {"class_idx": 0}, steps=20, max_sigma=6),
                 pair.BlurIG().GetMask(x.astype(np.float64), cmf, {"class_idx": 0}, steps=20,
                                       max_sigma=6))


def test_smoothgrad_uses_pair_noise(mf, x):
    # PAIR draws from NumPy's global generator; tfpath never does, but a RandomState seeded
    # alike gives the same noise
    np.random.seed(5)
    theirs = pair.GradientSaliency().GetSmoothedMask(x, mf, {"class_idx": 2}, nsamples=6)
    state = np.random.get_state()
    ours = tfpath.GradientSaliency().GetSmoothedMask(x, mf, {"class_idx": 2}, nsamples=6,
                                                     seed=np.random.RandomState(5))
    assert_close(ours, theirs)
    after = np.random.get_state()
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2] == after[2]


def test_smoothgrad_over_ig_batches_the_samples(mf, x):
    np.random.seed(7)
    theirs = pair.IntegratedGradients().GetSmoothedMask(x, mf, {"class_idx": 3}, nsamples=4,
                                                        magnitude=False, x_steps=10)
    ours = tfpath.IntegratedGradients().GetSmoothedMask(x, mf, {"class_idx": 3}, nsamples=4,
                                                        magnitude=False, x_steps=10,
                                                        seed=np.random.RandomState(7))
    assert_close(ours, theirs)


def test_positional_arguments_in_pair_order(mf, x):
    base = np.full_like(x, 0.2)
    np.testing.assert_array_equal(
        tfpath.IntegratedGradients().GetMask(x, mf, {"class_idx": 1}, base, 9),
        tfpath.IntegratedGradients().GetMask(x, mf, {"class_idx": 1}, x_baseline=base, x_steps=9))
    assert_close(tfpath.BlurIG().GetMask(x, mf, {"class_idx": 1}, 6, 15),
                 pair.BlurIG().GetMask(x.astype(np.float64), mf, {"class_idx": 1}, 6, 15))
    with pytest.raises(TypeError, match="multiple values"):
        tfpath.IntegratedGradients().GetMask(x, mf, {"class_idx": 1}, base, x_baseline=base)

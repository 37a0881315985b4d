"""tfpath as a drop-in for PAIR saliency, to the letter, with a plain call_model_function:
PAIR's calls (number, shapes, arguments, expected keys, order), no extra call, integer inputs,
call_model_args passed through untouched, PAIR's error messages and the function's own
exceptions. The oracle is PAIR itself: each test records the calls PAIR makes with the same
function and compares them with tfpath's."""
import warnings

import numpy as np
import pytest
import saliency.core as pair

import tfpath
from pair_oracle import numpy2_shim_for_pair_guided_ig
from tfpath.core.keys import INPUT_OUTPUT_GRADIENTS, OUTPUT_LAYER_VALUES, SHAPE_ERROR_MESSAGE

X = np.array([1.0, 2.0, 3.0])
BASELINE = np.array([0.5, 1.0, 1.0])


def f(a):
    """f(x, y, z) = 5x + y² + sin z, on the rows of ``a``."""
    return 5 * a[..., 0] + a[..., 1] ** 2 + np.sin(a[..., 2])


def grad_f(a):
    return np.stack([np.full(len(a), 5.0), 2 * a[:, 1], np.cos(a[:, 2])], axis=1)


class Recorder:
    """A PAIR call_model_function that records every call (shape, args, keys)."""

    def __init__(self, rows=None):
        self.calls = []
        self.rows = rows            # None: any batch; 1: written for PAIR's batch_size=1

    def __call__(self, x_value_batch, call_model_args=None, expected_keys=None):
        self.calls.append((np.shape(x_value_batch), call_model_args, list(expected_keys)))
        batch = np.asarray(x_value_batch, np.float64)
        if self.rows == 1:                           # looks at the first row only
            out = {INPUT_OUTPUT_GRADIENTS: grad_f(batch[:1])}
        else:
            out = {INPUT_OUTPUT_GRADIENTS: grad_f(batch.reshape(len(batch), -1)).reshape(
                batch.shape) if batch.ndim == 2 else np.zeros_like(batch)}
        if OUTPUT_LAYER_VALUES in expected_keys:
            out[OUTPUT_LAYER_VALUES] = f(batch)
        return out

    def shapes(self):
        return [c[0] for c in self.calls]


def image_function(recorder_calls):
    """A PAIR call_model_function on images: F = Σ sin(x) (gradient cos x), recording."""
    def call_model(x_value_batch, call_model_args=None, expected_keys=None):
        recorder_calls.append((np.shape(x_value_batch), call_model_args, list(expected_keys)))
        return {INPUT_OUTPUT_GRADIENTS: np.cos(np.asarray(x_value_batch))}
    return call_model


@pytest.mark.parametrize("kwargs", [dict(x_steps=25), dict(x_steps=1001, batch_size=500),
                                    dict(x_steps=999, batch_size=1000), dict(x_steps=7,
                                                                             batch_size=3)])
def test_ig_makes_pairs_calls_and_gives_pairs_numbers(kwargs):
    theirs, ours = Recorder(), Recorder()
    expected = pair.IntegratedGradients().GetMask(X, theirs, None, x_baseline=BASELINE,
                                                  **kwargs)
    got = tfpath.IntegratedGradients().GetMask(X, ours, None, x_baseline=BASELINE, **kwargs)
    assert ours.shapes() == theirs.shapes()                # count, sizes, no extra call
    assert [c[2] for c in ours.calls] == [c[2] for c in theirs.calls] == [
        [INPUT_OUTPUT_GRADIENTS]] * len(theirs.calls)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_a_function_written_for_batch_size_1_works_with_the_defaults():
    one_row = Recorder(rows=1)
    mask = tfpath.IntegratedGradients().GetMask(X, one_row, x_baseline=BASELINE, x_steps=1000)
    assert one_row.shapes() == [(1, 3)] * 1000
    per_feature = [5 * (1.0 - 0.5), 2.0 ** 2 - 1.0, np.sin(3.0) - np.sin(1.0)]   # exact IG
    np.testing.assert_allclose(mask, per_feature, atol=1e-2)
    # the automatic chunking is there when asked for, with the same numbers
    batched = Recorder()
    fast = tfpath.IntegratedGradients().GetMask(X, batched, x_baseline=BASELINE,
                                                x_steps=1000, batch_size="auto")
    # (dozens of points per call, not one: at most 64 each by default)
    assert len(batched.calls) < 20 and sum(s[0] for s in batched.shapes()) == 1000
    np.testing.assert_allclose(fast, mask, rtol=1e-5)
    with pytest.raises(ValueError, match="batch_size: expected None, 'auto' or an integer"):
        tfpath.IntegratedGradients().GetMask(X, batched, batch_size="fast")


def test_blur_ig_and_gradient_make_pairs_calls():
    image = np.random.default_rng(0).random((6, 5, 2))
    for kwargs in (dict(), dict(steps=12, batch_size=5), dict(steps=9, sqrt=True)):
        theirs, ours = [], []
        expected = pair.BlurIG().GetMask(image, image_function(theirs), None, **kwargs)
        got = tfpath.BlurIG().GetMask(image, image_function(ours), None, **kwargs)
        assert [c[0] for c in ours] == [c[0] for c in theirs]
        if kwargs.get("batch_size", 1) == 1:     # (PAIR weights whole batches by one step)
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    theirs, ours = [], []
    expected = pair.GradientSaliency().GetMask(image, image_function(theirs), None)
    got = tfpath.GradientSaliency().GetMask(image, image_function(ours), None)
    assert [c[0] for c in ours] == [c[0] for c in theirs] == [(1, 6, 5, 2)]
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_guided_ig_makes_pairs_calls_with_any_call_model_args():
    theirs, ours = Recorder(), Recorder()
    args = "airplane"                                   # any object, as in PAIR's tests
    with numpy2_shim_for_pair_guided_ig():
        expected = pair.GuidedIG().GetMask(X, theirs, args, x_baseline=BASELINE, x_steps=40)
    got = tfpath.GuidedIG().GetMask(X, ours, args, x_baseline=BASELINE, x_steps=40)
    assert ours.shapes() == theirs.shapes() == [(1, 3)] * 40
    assert all(c[1] is args for c in ours.calls)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_call_model_args_reach_every_call_untouched():
    class Settings:                                     # not a dict
        pass

    for args in (Settings(), {"foo": "bar", "class_idx": [1, 2]}, ["a", "list"], None):
        ours = Recorder()
        tfpath.IntegratedGradients().GetMask(X, ours, args, x_steps=6)
        assert len(ours.calls) == 6 and all(c[1] is args for c in ours.calls)
    # a ModelFunction is the one that needs its class in a dict
    mf = tfpath.ModelFunction(lambda x: x[:, 0] * 2.0, target="score")
    with pytest.raises(TypeError, match="call_model_args: a tfpath.ModelFunction takes a dict"):
        tfpath.IntegratedGradients().GetMask(X, mf, "airplane")


def test_integer_and_float64_inputs_are_accepted():
    ours = Recorder()
    got = tfpath.IntegratedGradients().GetMask(np.array([3, 2, 1]), ours, x_steps=10)
    expected = pair.IntegratedGradients().GetMask(np.array([3, 2, 1]), Recorder(), x_steps=10)
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert all(c[0] == (1, 3) for c in ours.calls)
    assert tfpath.IntegratedGradients().GetMask(
        np.array([3.0, 2.0, 1.0], np.float64), Recorder(), x_steps=10).dtype == np.float32
    with pytest.warns(UserWarning, match="x_value: a uint8 array with values up to 200"):
        tfpath.GradientSaliency().GetMask(np.full((4, 4, 1), 200, np.uint8),
                                          image_function([]))
    with pytest.raises(TypeError, match="x_value: expected a real array"):
        tfpath.IntegratedGradients().GetMask(np.array([True, False, True]), Recorder())


def test_shape_errors_use_pairs_message_and_the_functions_errors_surface():
    def bad(x_value_batch, call_model_args=None, expected_keys=None):
        return {INPUT_OUTPUT_GRADIENTS: grad_f(np.asarray(x_value_batch))[0]}
    message = SHAPE_ERROR_MESSAGE[INPUT_OUTPUT_GRADIENTS].format(r"\(500, 3\)", r"\(3,\)")
    for method in (pair.IntegratedGradients(), tfpath.IntegratedGradients()):
        with pytest.raises(ValueError, match=message):
            method.GetMask(X, bad, None, x_baseline=BASELINE, x_steps=2001, batch_size=500)

    class ModelDown(Exception):
        pass

    def failing(x_value_batch, call_model_args=None, expected_keys=None):
        raise ModelDown("the server is down")
    for method in (tfpath.IntegratedGradients(), tfpath.BlurIG(), tfpath.GuidedIG(),
                   tfpath.GradientSaliency()):
        x = np.ones((4, 4, 1)) if isinstance(method, tfpath.BlurIG) else X
        with pytest.raises(ModelDown, match="the server is down"):
            method.GetMask(x, failing)


def test_smoothgrad_makes_pairs_number_of_calls():
    theirs, ours = Recorder(), Recorder()
    np.random.seed(0)
    pair.IntegratedGradients().GetSmoothedMask(X, theirs, None, nsamples=4, x_steps=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # no degenerate warning without details
        tfpath.IntegratedGradients().GetSmoothedMask(X, ours, None, nsamples=4, x_steps=5)
    assert ours.shapes() == theirs.shapes() == [(1, 3)] * 20

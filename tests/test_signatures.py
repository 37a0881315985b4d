"""Every public method spells out its arguments (PAIR's order, keywords with defaults, a
docstring with Args / Returns / Raises), and a misspelled keyword names the public method."""
import inspect

import numpy as np
import pytest
import saliency.core as pair
import tensorflow as tf

import tfpath
from tfpath.generative import CODE

PUBLIC = ("GetMask", "GetMaskBatch", "GetMaskWithDetails", "GetMaskBatchWithDetails")

# the documented method arguments (after call_model_args) and their defaults
DOCUMENTED = {
    tfpath.GradientSaliency: {},
    tfpath.IntegratedGradients: dict(x_baseline=None, x_steps=25, batch_size=None,
                                     integrator="linspace_mean", baselines=None,
                                     baseline_weights=None),
    tfpath.BlurIG: dict(max_sigma=50, steps=100, grad_step=0.01, sqrt=False, batch_size=None,
                        integrator="right", blur_convention=None, baselines=None,
                        baseline_weights=None),
    tfpath.GuidedIG: dict(x_baseline=None, x_steps=200, fraction=0.25, max_dist=0.02,
                          batch_size=None, integrator="left", baselines=None,
                          baseline_weights=None),
    tfpath.ExpectedGradients: dict(references=None, nsamples=128, seed=None,
                                   alpha_range=(0.0, 1.0), integrator="monte_carlo",
                                   batch_size=None),
    tfpath.LPI: dict(k=1, estimator="expectation", alpha_range=None, references="weighted",
                     integrator="monte_carlo", seed=None, batch_size=None),
    tfpath.AGI: dict(epsilon=0.05, steps=20, n_targets=1, targets=None, value_range=(0.0, 1.0),
                     early_stop=True, variant="paper", integrator="left", seed=None,
                     batch_size=None),
    tfpath.IG2: dict(references=None, representation=None, steps=201, step_size=None,
                     clip=None, norm="l2", distance="sqeuclidean", percentile=95.0,
                     reference_weights=None, integrator="left", batch_size=None),
    tfpath.GenerativeIG: dict(vae=None, encoder=None, decoder=None, z_baseline=None,
                              z_input=None, steps=400, integrator="midpoint", search=CODE,
                              fiducial_class=None, baseline_weights=None, tail=True,
                              batch_size=None),
}

PAIR_CLASSES = {tfpath.IntegratedGradients: pair.IntegratedGradients, tfpath.BlurIG: pair.BlurIG,
                tfpath.GuidedIG: pair.GuidedIG, tfpath.GradientSaliency: pair.GradientSaliency}

CASES = [(cls, name) for cls in DOCUMENTED for name in PUBLIC]


def _ids(case):
    return f"{case[0].__name__}.{case[1]}"


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_signature_lists_the_documented_arguments(case):
    cls, name = case
    params = inspect.signature(getattr(cls, name)).parameters
    first = "x_batch" if "Batch" in name else "x_value"
    assert list(params)[:4] == ["self", first, "call_model_function", "call_model_args"]
    assert params["call_model_args"].default is None
    for p in params.values():   # explicit: no *args / **kwargs for an IDE to hide them behind
        assert p.kind is p.POSITIONAL_OR_KEYWORD, p
    method = {n: p.default for n, p in list(params.items())[4:]}
    assert method == DOCUMENTED[cls]
    assert list(method) == list(DOCUMENTED[cls])


def test_integrated_gradients_signature_reads_as_pair():
    sig = inspect.signature(tfpath.IntegratedGradients.GetMask)
    assert str(sig).startswith("(self, x_value, call_model_function, call_model_args=None, "
                               "x_baseline=None, x_steps=25, batch_size=None, ")


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_docstring_has_args_returns_raises(case):
    doc = inspect.getdoc(getattr(*case))
    for section in ("Args:", "Returns:", "Raises:"):
        assert section in doc, (case, section)


@pytest.mark.parametrize("cls", list(PAIR_CLASSES), ids=lambda c: c.__name__)
def test_pair_positional_order_is_kept(cls):
    theirs = list(inspect.signature(PAIR_CLASSES[cls].GetMask).parameters)
    ours = list(inspect.signature(cls.GetMask).parameters)
    assert ours[:len(theirs)] == theirs


@pytest.fixture(scope="module")
def mf():
    import keras
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 1))
    h = keras.layers.Conv2D(3, 3, activation="tanh")(inputs)
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(h))
    return tfpath.ModelFunction(keras.Model(inputs, outputs), target="logit")


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(1).random((6, 6, 1)).astype(np.float32)


POSITIONAL = [
    (tfpath.IntegratedGradients, (None, 7, 4), dict(x_baseline=None, x_steps=7, batch_size=4)),
    (tfpath.BlurIG, (5, 9, 0.02, True, 3),
     dict(max_sigma=5, steps=9, grad_step=0.02, sqrt=True, batch_size=3)),
    (tfpath.GuidedIG, (None, 8, 0.5, 0.1), dict(x_baseline=None, x_steps=8, fraction=0.5,
                                                 max_dist=0.1)),
    (tfpath.GradientSaliency, (), {}),
]


@pytest.mark.parametrize("cls, args, kwargs", POSITIONAL, ids=lambda v: getattr(v, "__name__", ""))
def test_pair_positional_calls_equal_keyword_calls(mf, x, cls, args, kwargs):
    c = {"class_idx": 1}
    by_position = cls().GetMask(x, mf, c, *args)
    by_keyword = cls().GetMask(x, mf, c, **kwargs)
    np.testing.assert_array_equal(by_position, by_keyword)
    batch = np.stack([x, x[::-1]])
    np.testing.assert_array_equal(cls().GetMaskBatch(batch, mf, c, *args),
                                  cls().GetMaskBatch(batch, mf, c, **kwargs))
    d1 = cls().GetMaskWithDetails(x, mf, c, *args)
    d2 = cls().GetMaskWithDetails(x, mf, c, **kwargs)
    np.testing.assert_array_equal(d1.mask, d2.mask)
    np.testing.assert_array_equal(d1.mask, by_keyword)


def test_positional_ig_matches_pair(mf, x):
    base = np.full_like(x, 0.3)
    ours = tfpath.IntegratedGradients().GetMask(x, mf, {"class_idx": 0}, base, 10, 1)
    theirs = pair.IntegratedGradients().GetMask(x, mf, {"class_idx": 0}, base, 10, 1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


class _Distribution:
    """Stands in for a fitted LocalDistribution: keywords are checked before it is used."""
    baseline_set = None


def _instance(cls):
    return cls(_Distribution()) if cls is tfpath.LPI else cls()


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_misspelled_keyword_names_the_public_method(case):
    cls, name = case
    x = np.zeros((1, 6, 6, 1) if "Batch" in name else (6, 6, 1), np.float32)
    with pytest.raises(TypeError) as err:
        getattr(_instance(cls), name)(x, lambda *a, **k: None, None, x_step=3)
    msg = str(err.value)
    assert f"{cls.__name__}.{name}" in msg
    assert "unexpected keyword argument 'x_step'" in msg
    assert "valid arguments: " in msg
    for private in ("_attribute", "_plan", "_run", "_bind", "_explain"):
        assert private not in msg
    for arg in DOCUMENTED[cls]:
        assert arg in msg


def test_misspelled_keyword_message_suggests_the_name():
    with pytest.raises(TypeError, match=r"IntegratedGradients\.GetMask: unexpected keyword "
                                        r"argument 'x_step' \(did you mean 'x_steps'\?\); "
                                        r"valid arguments: x_value, call_model_function, "
                                        r"call_model_args, x_baseline, x_steps, batch_size"):
        tfpath.IntegratedGradients().GetMask(np.zeros(3, np.float32), None, x_step=3)


def test_misspelled_keyword_through_smoothgrad_and_noise_tunnel(mf, x):
    with pytest.raises(TypeError, match=r"IntegratedGradients\.GetSmoothedMask: unexpected "
                                        r"keyword argument 'x_step'.*x_steps"):
        tfpath.IntegratedGradients().GetSmoothedMask(x, mf, {"class_idx": 0}, x_step=3)
    tunnel = tfpath.NoiseTunnel(tfpath.IntegratedGradients())
    with pytest.raises(TypeError, match=r"NoiseTunnel\.GetMask: unexpected keyword argument "
                                        r"'x_step'.*nsamples.*x_steps"):
        tunnel.GetMask(x, mf, {"class_idx": 0}, x_step=3)
    with pytest.raises(TypeError, match=r"NoiseTunnel\.GetMaskBatch: unexpected keyword "
                                        r"argument 'x_step'"):
        tunnel.GetMaskBatch(x[None], mf, {"class_idx": 0}, x_step=3)


def test_noise_tunnel_signature_is_explicit():
    for name in ("GetMask", "GetMaskBatch"):
        fn = getattr(tfpath.NoiseTunnel, name)
        params = inspect.signature(fn).parameters
        assert list(params)[1:7] == ["x_batch" if "Batch" in name else "x_value",
                                     "call_model_function", "call_model_args", "nsamples",
                                     "stdev_spread", "seed"]
        assert params["nsamples"].default == 25 and params["stdev_spread"].default == 0.15
        doc = inspect.getdoc(fn)
        assert "Args:" in doc and "Returns:" in doc and "Raises:" in doc


def test_misspelled_keyword_of_lpi():
    with pytest.raises(TypeError, match=r"LPI\.GetMask: unexpected keyword argument 'kk' "
                                        r"\(did you mean 'k'\?\)"):
        tfpath.LPI(_Distribution()).GetMask(np.zeros(3, np.float32), None, kk=2)


def test_too_many_positional_arguments_name_the_method(mf, x):
    with pytest.raises(TypeError, match=r"GradientSaliency\.GetMask\(\) takes"):
        tfpath.GradientSaliency().GetMask(x, mf, {"class_idx": 0}, 5)
    with pytest.raises(TypeError, match=r"IntegratedGradients\.GetMask\(\) got multiple values "
                                        r"for argument 'x_baseline'"):
        tfpath.IntegratedGradients().GetMask(x, mf, {"class_idx": 0}, None, x_baseline=None)


def test_keyword_calls_still_work_with_a_pair_callback(x):
    def call(xb, call_model_args=None, expected_keys=None):
        xb = tf.constant(xb)
        with tf.GradientTape() as tape:
            tape.watch(xb)
            y = tf.reduce_sum(xb ** 2, axis=[1, 2, 3])
        return {tfpath.INPUT_OUTPUT_GRADIENTS: tape.gradient(y, xb).numpy(),
                tfpath.OUTPUT_LAYER_VALUES: y.numpy()}
    mask = tfpath.IntegratedGradients().GetMask(x, call, None, x_steps=50)
    np.testing.assert_allclose(mask.sum(), (x ** 2).sum(), rtol=1e-2)

"""Text models: the split at the embedding layer, per-token attributions, the trigger task.

Independent references: closed-form IG of a bag-of-embeddings model with a linear head, the
user's own model outputs for completeness (F(x) − F(all-pad sequence)), and the ground-truth
trigger positions of the synthetic task for a trained TextCNN.
"""
import keras
import numpy as np
import pytest

import tfpath
from tfpath import baselines
from tfpath.datasets import TriggerText, make_trigger_text, text_cnn
from tfpath.zoo import train_classifier

L, V, D, K = 10, 30, 6, 3


# ------------------------------------------------------------------------------ fixtures
def bag_model(seed=0, sequential=False, softmax=False):
    """Embedding → GlobalAveragePooling1D → Dense: F_c(E) = w_c · mean_t e_t + b_c."""
    keras.utils.set_random_seed(seed)
    layers = [keras.layers.Embedding(V, D, name="emb",
                                     embeddings_initializer=keras.initializers.RandomNormal(
                                         stddev=1.0)),
              keras.layers.GlobalAveragePooling1D(name="gap"),
              keras.layers.Dense(K, name="out", activation="softmax" if softmax else None,
                                 bias_initializer=keras.initializers.RandomNormal())]
    if sequential:
        return keras.Sequential([keras.Input((L,), dtype="int32")] + layers)
    inputs = keras.Input((L,), dtype="int32")
    h = inputs
    for layer in layers:
        h = layer(h)
    return keras.Model(inputs, h)


def smooth_model(seed=1):
    """A smooth (tanh) convolutional text model, for convergence."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((L,), dtype="int32")
    e = keras.layers.Embedding(V, D, name="emb")(inputs)
    h = keras.layers.Conv1D(8, 3, activation="tanh")(e)
    h = keras.layers.GlobalAveragePooling1D()(h)
    h = keras.layers.Dense(8, activation="tanh")(h)
    return keras.Model(inputs, keras.layers.Dense(K)(h))


def tokens(n, seed=0, length=L):
    return np.random.default_rng(seed).integers(1, V, (n, length)).astype(np.int32)


@pytest.fixture(scope="module")
def bag():
    model = bag_model()
    return model, tfpath.TextModel(model)


@pytest.fixture(scope="module")
def smooth():
    model = smooth_model()
    return model, tfpath.TextModel(model)


@pytest.fixture(scope="module")
def task():
    data = make_trigger_text(800, length=16, vocab=50, n_classes=3, seed=0)
    model = text_cnn(data.vocab, 16, data.n_classes, embed_dim=16, filters=8, seed=0)
    train_classifier(model, data.tokens[:600], data.labels[:600], epochs=8, batch_size=32,
                     learning_rate=1e-2, seed=0)
    return data, model, tfpath.TextModel(model)


def linear_ig(model, toks, classes, base=None):
    """Closed form: per-token IG of the bag model = w_c · (e_t − e'_t) / L."""
    matrix = model.get_layer("emb").get_weights()[0].astype(np.float64)
    w = model.get_layer("out").get_weights()[0].astype(np.float64)          # [D, K]
    e = matrix[toks]                                                        # [B, L, D]
    if base is not None:
        e = e - (matrix[base] if np.issubdtype(np.asarray(base).dtype, np.integer) else base)
    return np.einsum("bld,db->bl", e, w[:, classes]) / toks.shape[-1]


# ------------------------------------------------------------------------------ dataset
def test_trigger_text_is_deterministic_and_has_ground_truth():
    d = make_trigger_text(300, length=12, vocab=40, n_classes=3, seed=5)
    again = make_trigger_text(300, length=12, vocab=40, n_classes=3, seed=5)
    other = make_trigger_text(300, length=12, vocab=40, n_classes=3, seed=6)
    assert isinstance(d, TriggerText) and len(d) == 300
    assert d.tokens.shape == (300, 12) and d.tokens.dtype == np.int32
    assert d.relevant.shape == (300, 12) and d.relevant.dtype == bool
    np.testing.assert_array_equal(d.tokens, again.tokens)
    assert not np.array_equal(d.tokens, other.tokens)
    assert np.bincount(d.labels).tolist() == [100, 100, 100]
    triggers = set(d.trigger_tokens.ravel().tolist())
    assert 0 not in triggers and d.trigger_tokens.shape == (3, 3)
    for i in range(len(d)):
        ell = d.lengths[i]
        assert np.all(d.tokens[i, ell:] == d.pad_token) and np.all(d.tokens[i, :ell] != 0)
        pos = np.flatnonzero(d.relevant[i])
        assert 1 <= pos.size <= 2 and pos.max() < ell
        assert set(d.tokens[i, pos].tolist()) <= set(d.trigger_tokens[d.labels[i]].tolist())
        filler = d.tokens[i, :ell][~d.relevant[i, :ell]]
        assert not set(filler.tolist()) & triggers
    assert d.filler_tokens.min() == 10 and d.filler_tokens.max() == 39
    with pytest.raises(ValueError, match="vocab"):
        make_trigger_text(10, vocab=9, n_classes=3)
    with pytest.raises(ValueError, match="min_length"):
        make_trigger_text(10, length=8, min_length=9)


def test_text_cnn_learns_the_trigger_task(task):
    data, model, _ = task
    assert model.get_layer("embedding") and model.get_layer("conv4")
    accuracy = np.mean(np.argmax(model.predict(data.tokens[600:], verbose=0), 1)
                       == data.labels[600:])
    assert accuracy > 0.95
    with pytest.raises(ValueError, match="length"):
        text_cnn(20, 3, 2)


# ------------------------------------------------------------------------------ the split
@pytest.mark.parametrize("sequential", [False, True])
def test_split_is_faithful(sequential):
    model = bag_model(sequential=sequential)
    n_layers = len(model.layers)
    t = tokens(7, seed=3)
    before = np.asarray(model(t))
    tm = tfpath.TextModel(model)
    assert (tm.vocab_size, tm.embedding_dim, tm.sequence_length, tm.pad_token) == (V, D, L, 0)
    matrix = model.get_layer("emb").get_weights()[0]
    np.testing.assert_array_equal(tm.embedding_matrix, matrix)
    np.testing.assert_array_equal(tm.embed(t), matrix[t])                 # the lookup
    assert tm.embedding_range == (float(matrix.min()), float(matrix.max()))
    np.testing.assert_allclose(np.asarray(tm.head(tm.embed(t))), before, atol=1e-6)
    assert tm.verify(t) < 1e-5
    # the user's model is untouched, and the head shares its weights (live)
    assert len(model.layers) == n_layers
    np.testing.assert_array_equal(np.asarray(model(t)), before)
    dense = model.get_layer("out")
    dense.set_weights([w + 1.0 for w in dense.get_weights()])
    np.testing.assert_allclose(np.asarray(tm.head(tm.embed(t))), np.asarray(model(t)),
                               atol=1e-5)
    mf = tm.model_function()
    assert mf is tm.model_function() and mf is not tm.model_function("probability")
    np.testing.assert_allclose(mf.predict(tm.embed(t), 1), np.asarray(model(t))[:, 1],
                               atol=1e-5)


def test_variable_length_model():
    inputs = keras.Input((None,), dtype="int32")
    e = keras.layers.Embedding(V, D)(inputs)
    h = keras.layers.Conv1D(4, 2, activation="tanh")(e)
    model = keras.Model(inputs, keras.layers.Dense(K)(keras.layers.GlobalMaxPooling1D()(h)))
    tm = tfpath.TextModel(model)
    assert tm.sequence_length is None
    for length in (5, 13):
        assert tm.verify(tokens(3, seed=length, length=length)) < 1e-5
    for length in (13, 7):          # one model function at two input shapes
        mask = tfpath.TokenAttribution(tfpath.IntegratedGradients()).GetMaskBatch(
            tokens(3, length=length), tm, {"class_idx": 1}, x_steps=8)
        assert mask.shape == (3, length)


def test_sequential_built_by_a_call_and_softmax_logits():
    model = keras.Sequential([keras.layers.Embedding(V, D),
                              keras.layers.Conv1D(4, 3, activation="tanh"),
                              keras.layers.GlobalMaxPooling1D(),
                              keras.layers.Dense(K, activation="softmax")])
    t = tokens(5, seed=4)
    model(t[:2])                           # built on a batch of 2; explained on batches of 5
    for tm in (tfpath.TextModel(model),):
        p = np.asarray(model(t), np.float64)
        e = tm.embed(t)
        logit = tm.model_function()        # pre-softmax logits of the head
        diff = logit.predict(e, [0] * 5) - logit.predict(e, [2] * 5)
        np.testing.assert_allclose(diff, np.log(p[:, 0] / p[:, 2]), atol=1e-4)
        np.testing.assert_allclose(tm.model_function("probability").predict(e, [1] * 5),
                                   p[:, 1], atol=1e-6)
        mask = tfpath.TokenAttribution(tfpath.IntegratedGradients()).GetMaskBatch(
            t, tm, {"class_idx": 0}, x_steps=8)
        assert mask.shape == (5, L) and np.all(np.isfinite(mask))


def test_split_errors():
    inputs = keras.Input((L,))
    dense_only = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match="embedding_layer: .*no keras.layers.Embedding"):
        tfpath.TextModel(dense_only)

    inputs = keras.Input((L,), dtype="int32")
    a = keras.layers.Embedding(V, D, name="a")(inputs)
    b = keras.layers.Embedding(V, D, name="b")(inputs)
    h = keras.layers.GlobalAveragePooling1D()(keras.layers.Add()([a, b]))
    two = keras.Model(inputs, keras.layers.Dense(2)(h))
    with pytest.raises(ValueError, match=r"embedding_layer: .*2 Embedding layers .*'a', 'b'"):
        tfpath.TextModel(two)
    with pytest.raises(ValueError, match="model: cannot be split"):
        tfpath.TextModel(two, embedding_layer="a")      # b reads the tokens after a
    with pytest.raises(ValueError, match="embedding_layer: no layer named 'c'"):
        tfpath.TextModel(two, embedding_layer="c")
    with pytest.raises(ValueError, match="embedding_layer: .*not a keras.layers.Embedding"):
        tfpath.TextModel(two, embedding_layer=two.layers[-1].name)

    # the token ids used again after the embedding (a padding mask computed from them)
    inputs = keras.Input((L,), dtype="int32")
    e = keras.layers.Embedding(V, D)(inputs)
    pad = keras.layers.Lambda(lambda t: keras.ops.expand_dims(
        keras.ops.cast(keras.ops.not_equal(t, 0), "float32"), -1))(inputs)
    h = keras.layers.GlobalAveragePooling1D()(keras.layers.Multiply()([e, pad]))
    with pytest.raises(ValueError, match="model: cannot be split .*token ids"):
        tfpath.TextModel(keras.Model(inputs, keras.layers.Dense(2)(h)))

    inputs = keras.Input((L,), dtype="int32")
    e = keras.layers.Embedding(V, D, mask_zero=True)(inputs)
    masked = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling1D()(e)))
    with pytest.raises(ValueError, match="embedding_layer: .*mask_zero=True"):
        tfpath.TextModel(masked)

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.e = keras.layers.Embedding(V, D)
            self.d = keras.layers.Dense(2)

        def call(self, x):
            return self.d(keras.ops.mean(self.e(x), 1))
    sub = Sub()
    sub(tokens(1))
    with pytest.raises(TypeError, match="model: .*subclassed"):
        tfpath.TextModel(sub)
    with pytest.raises(TypeError, match="model: expected a Keras 3 model"):
        tfpath.TextModel(lambda x: x)
    with pytest.raises(ValueError, match="pad_token"):
        tfpath.TextModel(bag_model(), pad_token=V)


def test_verify_detects_an_unfaithful_head(bag):
    model, _ = bag
    tm = tfpath.TextModel(model)
    tm.head = tfpath.TextModel(bag_model(seed=9)).head   # another function of the embeddings
    with pytest.raises(ValueError, match="model: head\\(embed\\(tokens\\)\\) differs"):
        tm.verify()


def test_token_and_argument_errors(bag):
    model, tm = bag
    ig = tfpath.TokenAttribution(tfpath.IntegratedGradients())
    t = tokens(2)
    with pytest.raises(TypeError, match="x_value: expected integer token ids"):
        ig.GetMask(t[0].astype(np.float32), tm)
    with pytest.raises(ValueError, match="x_value: token id 30 is out of range"):
        ig.GetMask(np.full(L, V), tm)
    with pytest.raises(ValueError, match="x_value: token id -1"):
        ig.GetMask(np.full(L, -1), tm)
    with pytest.raises(ValueError, match="x_value: expected token ids of rank 1"):
        ig.GetMask(t, tm)
    with pytest.raises(ValueError, match="x_batch: expected sequences of length 10"):
        ig.GetMaskBatch(t[:, :5], tm)
    with pytest.raises(TypeError, match="x_batch: expected integer"):
        ig.GetMaskBatch(t > 3, tm)
    with pytest.raises(ValueError, match="x_baseline: token id"):
        ig.GetMaskBatch(t, tm, x_baseline=np.full(L, 99))
    with pytest.raises(TypeError, match="call_model_function: TokenAttribution needs a "
                                        "tfpath.TextModel"):
        ig.GetMask(t[0], tm.model_function())
    with pytest.raises(TypeError, match="call_model_function"):
        ig.GetMaskBatch(t, model)
    with pytest.raises(TypeError, match="method: Blur IG"):
        tfpath.TokenAttribution(tfpath.BlurIG())
    with pytest.raises(TypeError, match="method: expected a tfpath method"):
        tfpath.TokenAttribution(object())
    with pytest.raises(ValueError, match="reduce"):
        tfpath.TokenAttribution(tfpath.IntegratedGradients(), reduce="max")
    with pytest.raises(TypeError, match="unexpected keyword argument 'nsamples'"):
        ig.GetMask(t[0], tm, nsamples=3)


# ------------------------------------------------------------------------------ attributions
def test_bag_of_embeddings_ig_is_closed_form(bag):
    """IG of F_c = w_c · mean_t e_t from the zero embedding is (w_c · e_t) / L per token."""
    model, tm = bag
    t = tokens(4, seed=1)
    classes = np.array([0, 1, 2, 1])
    ig = tfpath.TokenAttribution(tfpath.IntegratedGradients())
    mask = ig.GetMaskBatch(t, tm, {"class_idx": classes}, x_steps=4)
    assert mask.shape == (4, L) and mask.dtype == np.float32
    np.testing.assert_allclose(mask, linear_ig(model, t, classes), rtol=1e-4, atol=1e-5)
    # one sequence, PAIR's positional baseline argument (token ids: the pad sequence)
    pad = np.full(L, tm.pad_token)
    one = ig.GetMask(t[2], tm, {"class_idx": 2}, pad, 4)
    np.testing.assert_allclose(one, linear_ig(model, t[2:3], np.array([2]), pad[None])[0],
                               rtol=1e-4, atol=1e-5)
    # an embedding given as a float baseline is used unchanged
    emb = tm.embed(pad)
    np.testing.assert_allclose(ig.GetMask(t[2], tm, {"class_idx": 2}, x_baseline=emb), one,
                               atol=1e-5)
    # a baseline object holding token ids: two counterfactual sequences, weighted 3:1
    points = tokens(2, seed=8)
    obj = ig.GetMask(t[0], tm, {"class_idx": 0}, x_steps=4,
                     baselines=baselines.Counterfactuals(points, np.array([3.0, 1.0])))
    expected = (0.75 * linear_ig(model, t[:1], np.array([0]), points[:1])
                + 0.25 * linear_ig(model, t[:1], np.array([0]), points[1:]))[0]
    np.testing.assert_allclose(obj, expected, rtol=1e-4, atol=1e-5)


def test_guided_ig_and_expected_gradients_on_the_linear_model(bag):
    """On a linear head Guided IG equals IG, and Expected Gradients with a one-sequence pool
    is IG from that sequence; both take token arrays as their baselines / references."""
    model, tm = bag
    t = tokens(3, seed=2)
    classes = np.array([2, 0, 1])
    guided = tfpath.TokenAttribution(tfpath.GuidedIG()).GetMaskBatch(
        t, tm, {"class_idx": classes}, x_steps=30)
    np.testing.assert_allclose(guided, linear_ig(model, t, classes), rtol=1e-3, atol=1e-4)
    ref = tokens(1, seed=11)
    eg = tfpath.TokenAttribution(tfpath.ExpectedGradients()).GetMaskBatch(
        t, tm, {"class_idx": classes}, references=ref, nsamples=8, seed=0)
    np.testing.assert_allclose(eg, linear_ig(model, t, classes, ref), rtol=1e-3, atol=1e-4)


def test_completeness_against_the_model(smooth):
    """Σ_t IG_t = F(x) − F(all-pad sequence), F read from the user's own model."""
    model, tm = smooth
    t = tokens(3, seed=5)
    classes = np.array([0, 1, 2])
    pad = np.full(L, tm.pad_token)
    ig = tfpath.TokenAttribution(tfpath.IntegratedGradients())
    mask = ig.GetMaskBatch(t, tm, {"class_idx": classes}, x_baseline=pad, x_steps=128,
                           integrator="trapezoid")
    out = np.asarray(model(t), np.float64)[np.arange(3), classes]
    start = np.asarray(model(np.stack([pad] * 3)), np.float64)[np.arange(3), classes]
    gap = out - start
    assert np.all(np.abs(mask.sum(1) - gap) <= 2e-3 * (1 + np.abs(gap))), (mask.sum(1), gap)
    assert np.all(np.abs(gap) > 1e-2)            # a non-trivial check
    # the zero embedding (the default): the convergence delta is small
    details = ig.GetMaskBatchWithDetails(t, tm, {"class_idx": classes}, x_steps=128,
                                         integrator="trapezoid")
    assert np.all(np.abs(details.convergence_delta) < 2e-3)
    np.testing.assert_allclose(details.end_value, out, atol=1e-5)


def test_details_carry_the_embedding_mask(smooth):
    model, tm = smooth
    t = tokens(2, seed=6)
    t[:, -3:] = tm.pad_token
    ta = tfpath.TokenAttribution(tfpath.IntegratedGradients(), mask_padding=True)
    batch = ta.GetMaskBatchWithDetails(t, tm, {"class_idx": 1}, x_steps=16)
    assert isinstance(batch, tfpath.PathDetails)
    assert batch.mask.shape == (2, L) and batch.embedding_mask.shape == (2, L, D)
    full = batch.embedding_mask.sum(-1)
    np.testing.assert_allclose(batch.mask[:, :-3], full[:, :-3], atol=1e-5)
    assert np.all(batch.mask[:, -3:] == 0) and np.any(full[:, -3:] != 0)
    one = ta.GetMaskWithDetails(t[1], tm, {"class_idx": 1}, x_steps=16)
    assert one.mask.shape == (L,) and one.embedding_mask.shape == (L, D)
    np.testing.assert_allclose(one.mask, batch.mask[1], atol=1e-5)
    np.testing.assert_allclose(one.embedding_mask, batch.embedding_mask[1], atol=1e-5)
    assert np.ndim(one.convergence_delta) == 0
    np.testing.assert_allclose(ta.GetMask(t[1], tm, {"class_idx": 1}, x_steps=16), one.mask,
                               atol=1e-5)
    # the other reductions
    l2 = tfpath.TokenAttribution(tfpath.IntegratedGradients(), reduce="l2").GetMaskBatch(
        t, tm, {"class_idx": 1}, x_steps=16)
    l1 = tfpath.TokenAttribution(tfpath.IntegratedGradients(), reduce="l1").GetMaskBatch(
        t, tm, {"class_idx": 1}, x_steps=16)
    np.testing.assert_allclose(l2, np.linalg.norm(batch.embedding_mask, axis=-1), rtol=1e-4)
    np.testing.assert_allclose(l1, np.abs(batch.embedding_mask).sum(-1), rtol=1e-4)


def auc(scores, relevant):
    """Mann–Whitney AUC of the relevant positions against the others."""
    pos, neg = scores[relevant], scores[~relevant]
    return (np.mean(pos[:, None] > neg[None]) + 0.5 * np.mean(pos[:, None] == neg[None]))


def test_trained_text_cnn_attributes_the_triggers(task):
    data, model, tm = task
    test = slice(600, 700)
    t, y = data.tokens[test], data.labels[test]
    mask = tfpath.TokenAttribution(tfpath.IntegratedGradients()).GetMaskBatch(
        t, tm, {"class_idx": y}, x_steps=32)
    scores = [auc(mask[i, :ell], data.relevant[test][i, :ell])
              for i, ell in enumerate(data.lengths[test])]
    assert np.mean(scores) > 0.8
    # the highest-attributed token is a trigger in most sequences
    top = mask.argmax(1)
    assert np.mean(data.relevant[test][np.arange(len(y)), top]) > 0.8


def test_methods_on_the_trained_text_cnn(task):
    data, model, tm = task
    t, y = data.tokens[600:604], data.labels[600:604]
    args = {"class_idx": y}
    refs = data.tokens[:50]
    runs = {
        "guided": (tfpath.GuidedIG(), dict(x_steps=20)),
        "expected": (tfpath.ExpectedGradients(), dict(references=refs, nsamples=16, seed=0)),
        "agi": (tfpath.AGI(), dict(steps=5, seed=0)),      # value_range: the embedding range
    }
    for name, (method, kwargs) in runs.items():
        ta = tfpath.TokenAttribution(method)
        mask = ta.GetMaskBatch(t, tm, args, **kwargs)
        assert mask.shape == (4, 16) and mask.dtype == np.float32 and np.all(np.isfinite(mask))
        details = ta.GetMaskBatchWithDetails(t, tm, args, **kwargs)
        np.testing.assert_allclose(details.mask, mask, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(details.embedding_mask.sum(-1), mask, rtol=1e-4, atol=1e-4)
    # Expected Gradients from training sequences is reproducible with a seed and ranks the
    # triggers first on average
    eg = tfpath.TokenAttribution(tfpath.ExpectedGradients())
    a = eg.GetMask(t[0], tm, {"class_idx": int(y[0])}, references=refs, nsamples=16, seed=3)
    b = eg.GetMask(t[0], tm, {"class_idx": int(y[0])}, references=refs, nsamples=16, seed=3)
    np.testing.assert_array_equal(a, b)


def test_lpi_in_embedding_space(task):
    data, model, tm = task
    mf = tm.model_function()
    dist = tfpath.LocalDistribution.fit(mf, tm.embed(data.tokens[:120]), 3, n_references=4)
    mask = tfpath.TokenAttribution(tfpath.LPI(dist)).GetMaskBatch(
        data.tokens[600:603], tm, {"class_idx": data.labels[600:603]}, k=2, seed=0)
    assert mask.shape == (3, 16) and np.all(np.isfinite(mask))


def test_ig2_takes_token_references(task):
    data, model, tm = task
    t, y = data.tokens[600:602], data.labels[600:602]
    refs = baselines.OtherClassSamples(data.tokens[:60], data.labels[:60], count=2, seed=0)
    details = tfpath.TokenAttribution(tfpath.IG2()).GetMaskBatchWithDetails(
        t, tm, {"class_idx": y}, references=refs, steps=20)
    assert details.mask.shape == (2, 16) and details.embedding_mask.shape == (2, 16, 16)
    np.testing.assert_allclose(details.embedding_mask.sum(-1), details.mask, atol=1e-4)
    assert np.all(np.isfinite(details.mask))
    # the default representation is the TextCNN's penultimate layer, read from embeddings
    assert np.all(details.final_distance < details.reference_distance)


def test_ig2_on_embeddings_reduces_to_right_rule_ig(task):
    """f̃ = identity in embedding space, default η: IG² per token equals the right-rule IG from
    the reference's embedding."""
    data, model, tm = task
    t, y = data.tokens[603], int(data.labels[603])
    ref = data.tokens[np.flatnonzero(data.labels[:60] != y)[0]]
    ig2 = tfpath.TokenAttribution(tfpath.IG2()).GetMask(
        t, tm, {"class_idx": y}, references=ref[None], representation="input", steps=24)
    ig = tfpath.TokenAttribution(tfpath.IntegratedGradients()).GetMask(
        t, tm, {"class_idx": y}, x_baseline=ref, x_steps=24, integrator="right")
    np.testing.assert_allclose(ig2, ig, atol=2e-4 * max(1.0, np.abs(ig).max()))

"""XAI-Bench metrics for tabular attributions: faithfulness, monotonicity and infidelity (Liu,
Khandagale, White and Neiswanger, "Synthetic Benchmarks for Scientific Research in Explainable
Machine Learning", NeurIPS Datasets and Benchmarks 2021, with the code abacusai/xai-bench), as
used by Zhuo and Ge, "IG²: Integrated Gradient on Iterative Gradient Path for Feature
Attribution", IEEE TPAMI 2024, §6.1, on :func:`tfpath.datasets.tabular.make_xai_bench`. The
fourth metric of that table, GT-Shapley, is :func:`tfpath.metrics.ground_truth_correlation`
against ``TabularBenchmark.shapley``.

The inputs are feature vectors ``x [n, d]`` with attributions ``φ [n, d]``. The metrics are
written for independent features with a known distribution, so that conditioning on a subset
of the features is resampling the others from their marginals (XAI-Bench's "observational"
conditional equals the interventional one). The distribution is given by ``sampler``:

* None (default): N(0, I_d), the distribution of the XAI-Bench Gaussian datasets;
* a callable ``sampler(m, rng) -> [m, d]``: ``m`` independent draws from the data distribution,
  using the NumPy Generator ``rng`` it is given (so the metric stays reproducible);
* an array ``background [N, d]``: draws are rows resampled (with replacement) from it.

Expectations are Monte Carlo means over ``n_samples`` draws. The same ``n_samples`` draws
z₁ … z_S are used for every feature (faithfulness) or every prefix (monotonicity) of one
datapoint (common random numbers): each expectation is estimated without bias as in XAI-Bench,
which draws anew for each, but the differences between them are much less noisy (a feature the
model ignores changes nothing, exactly). Every model evaluation of a metric is made in one
:class:`tfpath.metrics.Scorer` call over all the perturbed rows (chunked by ``batch_size``);
randomness comes only from ``np.random.default_rng(seed)`` (the global NumPy RNG is untouched).
"""
from __future__ import annotations

import numpy as np

from tfpath.core import validation
from tfpath.metrics.checks import check_class_idx
from tfpath.metrics.ground_truth import _pearson
from tfpath.metrics.results import mean_result
from tfpath.metrics.scoring import Scorer

#: default rows per model call: tabular rows are small, so larger than the images' 256
DEFAULT_BATCH_SIZE = 4096


def check_features(x, name="x", min_features=1):
    """Returns ``x`` as float32 feature vectors ``[n, d]``.

    Args:
      x: a batch of feature vectors ``[n, d]``.
      name: the argument's name, used in error messages.
      min_features: the least ``d`` the metric needs.

    Returns:
      float32 array ``[n, d]``.

    Raises:
      TypeError: not a float array. ValueError naming ``name``: not 2-D, empty, NaN/inf, fewer
      than ``min_features`` features.
    """
    arr = validation.check_array(x, name, min_rank=2)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a batch of feature vectors [n, d], received shape "
                         f"{arr.shape}")
    if arr.shape[1] < min_features:
        raise ValueError(f"{name}: this metric needs at least {min_features} features, "
                         f"received shape {arr.shape}")
    return arr


def check_sampler(sampler, d):
    """Checks the data distribution argument of the tabular metrics.

    Args:
      sampler: None (N(0, I_d)), a callable ``sampler(m, rng) -> [m, d]`` or a background
        array ``[N, d]``.
      d: the number of features.

    Returns:
      None, the callable, or the background as float32 ``[N, d]``.

    Raises:
      TypeError / ValueError naming ``sampler``: a background that is not a finite float array
      ``[N, d]`` with the inputs' ``d``.
    """
    if sampler is None or callable(sampler):
        return sampler
    bg = validation.check_array(sampler, "sampler", min_rank=2)
    if bg.ndim != 2 or bg.shape[1] != d:
        raise ValueError(f"sampler: expected a callable sampler(n, rng) -> [n, d] or a "
                         f"background array [N, {d}], received an array of shape {bg.shape}")
    return bg


def draw(sampler, m, d, rng):
    """``m`` draws ``[m, d]`` (float32) from the distribution given by a checked ``sampler``.

    Args:
      sampler: the result of :func:`check_sampler`.
      m: the number of draws.
      d: the number of features.
      rng: the ``np.random.Generator`` to draw with.

    Returns:
      float32 array ``[m, d]``.

    Raises:
      TypeError / ValueError naming ``sampler``: a callable that returns anything but ``m``
      finite float rows of ``d`` features.
    """
    if sampler is None:
        return rng.standard_normal((m, d)).astype(np.float32)
    if isinstance(sampler, np.ndarray):
        return sampler[rng.integers(0, sampler.shape[0], size=m)]
    z = validation.check_array(sampler(m, rng), "sampler")
    if z.shape != (m, d):
        raise ValueError(f"sampler: sampler({m}, rng) must return an array of shape {(m, d)}, "
                         f"returned shape {z.shape}")
    return z


def _prepare(model, x, attributions, class_idx, target, batch_size, min_features):
    """Checks the arguments every tabular metric shares."""
    scorer = Scorer(model, target, batch_size)
    x = check_features(x, "x", min_features)
    a = validation.check_array(attributions, "attributions", min_rank=2)
    validation.check_same_shape(a, x.shape, "attributions", "x")
    c = check_class_idx(class_idx, x.shape[0])
    return scorer, x, a.astype(np.float64), c


def _common_draws(sampler, n_samples, shape, seed):
    """The ``n_samples`` draws shared by every feature / prefix of each datapoint,
    ``[n, 1, n_samples, d]`` (common random numbers; see the module docstring)."""
    n_samples = validation.check_positive_int(n_samples, "n_samples")
    n, d = shape
    sampler = check_sampler(sampler, d)
    return draw(sampler, n * n_samples, d, np.random.default_rng(seed)).reshape(
        n, 1, n_samples, d)


def _score(scorer, blocks, classes):
    """Scores the row blocks ``[(rows [m_k, d], repeats_k)]`` in one scorer call; the classes of
    a block are ``classes`` (per datapoint) each repeated ``repeats_k`` times."""
    rows = np.concatenate([b.reshape(-1, b.shape[-1]) for b, _ in blocks])
    c = None if classes is None else np.concatenate([np.repeat(classes, r) for _, r in blocks])
    values, _ = scorer(rows, c)
    return values


def faithfulness(model, x, attributions, class_idx=None, *, sampler=None, n_samples=100,
                 target=None, batch_size=DEFAULT_BATCH_SIZE, seed=0):
    """Faithfulness (Alvarez-Melis and Jaakkola, "Towards Robust Interpretability with
    Self-Explaining Neural Networks", NeurIPS 2018), as in XAI-Bench (Liu et al., NeurIPS
    Datasets and Benchmarks 2021, ``custom_metrics/faithfulness.py``, default ``version="dec"``,
    observational conditional): per datapoint, the Pearson correlation over the features j of

        |φ_j|   and   Δ_j = |f(x) − E[f(x with feature j resampled)]|,

    where feature j is redrawn from the distribution (``sampler``) and the other features keep
    the values of x; the expectation is the mean over ``n_samples`` draws. The score is the
    mean over datapoints (↑, in [−1, 1]). A datapoint where either vector is constant (zero
    variance, e.g. all-equal |φ|, or a model that ignores every feature) scores 0 instead of
    the undefined correlation, as in XAI-Bench (which replaces NaN by 0).

    Args:
      model: a :class:`tfpath.ModelFunction`, a Keras model or a callable ``fn(x) -> scores``
        (see :class:`tfpath.metrics.Scorer`); f is its target.
      x: feature vectors ``[n, d]``, float, ``d >= 2``.
      attributions: ``[n, d]`` (their absolute values are used).
      class_idx: one int or one per datapoint (the explained class); None for class-free
        targets.
      sampler: the data distribution: None (N(0, I_d)), a callable ``sampler(m, rng) ->
        [m, d]`` or a background array ``[N, d]`` to resample rows from.
      n_samples: draws per expectation.
      target: override the ModelFunction's target (e.g. ``"probability"``).
      batch_size: rows per model call (the metric scores ``n·(1 + d·n_samples)`` rows).
      seed: seed of the private ``np.random.default_rng``.

    Returns:
      :class:`MetricResult` ``"faithfulness"``: ``per_image`` the correlations ``[n]``,
      ``value`` their mean; ``extra["deltas"]`` Δ ``[n, d]``, ``extra["full_scores"]`` f(x).

    Raises:
      ValueError / TypeError naming the argument: ``x`` not ``[n, d]`` with ``d >= 2``,
      ``attributions`` of another shape, NaN/inf, ``n_samples < 1``, a bad ``sampler`` or
      ``class_idx``, class outputs without ``class_idx``.
    """
    scorer, x, a, c = _prepare(model, x, attributions, class_idx, target, batch_size, 2)
    z = _common_draws(sampler, n_samples, x.shape, seed)
    n, _, n_samples, d = z.shape
    resampled = np.eye(d, dtype=bool)[None, :, None, :]          # row j resamples feature j
    rows = np.where(resampled, z, x[:, None, None, :])           # [n, d, S, d]
    values = _score(scorer, [(x, 1), (rows, d * n_samples)], c)
    full = values[:n]
    expected = values[n:].reshape(n, d, n_samples).mean(axis=2)
    deltas = np.abs(full[:, None] - expected)
    r = _pearson(np.abs(a), deltas)
    r = np.where(np.isfinite(r), r, 0.0)
    return mean_result("faithfulness", r, extra={"deltas": deltas, "full_scores": full})


def monotonicity(model, x, attributions, class_idx=None, *, sampler=None, n_samples=100,
                 target=None, batch_size=DEFAULT_BATCH_SIZE, seed=0):
    """Monotonicity (Luss et al., arXiv:1905.12698, in IBM's AIX360), as in XAI-Bench (Liu et
    al., NeurIPS Datasets and Benchmarks 2021, ``custom_metrics/monotonicity.py``, defaults
    ``version="inc"``, ``avg=True``, observational conditional).

    The features are added in increasing order of |φ| (ties by feature index), (1), …, (d).
    With y_t = E[f(x_{(1)}, …, x_{(t)}, Z_rest)], the expected prediction when the first t
    added features keep x's values and the others are drawn from the distribution
    (``sampler``, mean of ``n_samples`` draws), y_0 is the mean prediction (every feature
    drawn) and y_d = f(x). With Δ_t = |y_t − y_{t−1}| (t = 1 … d), the score of a datapoint is

        #{t = 1 … d−1 : Δ_{t+1} ≥ Δ_t} / (d − 1),

    the fraction of consecutive steps whose effect does not decrease; the value is the mean
    over datapoints (↑, in [0, 1]).

    Departures from the XAI-Bench code: (i) it stores y_t at the index of the added feature
    (``y_preds_new[j + 1]``) rather than at its rank t, so its Δ compares the features in index
    order and not in the order of |φ|; tfpath orders by rank, as the metric is defined. (ii)
    Its y_0 is the mean prediction over the evaluated datapoints; here y_0 is the expectation
    under the distribution, estimated like every other y_t.

    Args:
      model: a :class:`tfpath.ModelFunction`, a Keras model or a callable ``fn(x) -> scores``
        (see :class:`tfpath.metrics.Scorer`); f is its target.
      x: feature vectors ``[n, d]``, float, ``d >= 2``.
      attributions: ``[n, d]`` (their absolute values order the features).
      class_idx: one int or one per datapoint; None for class-free targets.
      sampler: None (N(0, I_d)), a callable ``sampler(m, rng) -> [m, d]`` or a background
        array ``[N, d]``.
      n_samples: draws per expectation.
      target: override the ModelFunction's target.
      batch_size: rows per model call (the metric scores ``n·(1 + d·n_samples)`` rows).
      seed: seed of the private ``np.random.default_rng``.

    Returns:
      :class:`MetricResult` ``"monotonicity"``: ``per_image`` the fractions ``[n]``, ``value``
      their mean; ``x`` = 0 … d (features fixed), ``curves`` y ``[n, d + 1]``, ``curve`` their
      mean; ``extra["deltas"]`` Δ ``[n, d]`` (by rank), ``extra["order"]`` the features by
      rank ``[n, d]``.

    Raises:
      ValueError / TypeError naming the argument: as :func:`faithfulness`.
    """
    scorer, x, a, c = _prepare(model, x, attributions, class_idx, target, batch_size, 2)
    z = _common_draws(sampler, n_samples, x.shape, seed)
    n, _, n_samples, d = z.shape
    order = np.argsort(np.abs(a), axis=1, kind="stable")
    rank = np.argsort(order, axis=1)                              # rank of each feature
    fixed = rank[:, None, :] < np.arange(d)[None, :, None]        # [n, t = 0 … d−1, d]
    rows = np.where(fixed[:, :, None, :], x[:, None, None, :], z)  # [n, d, S, d]
    values = _score(scorer, [(rows, d * n_samples), (x, 1)], c)
    y = np.concatenate([values[:n * d * n_samples].reshape(n, d, n_samples).mean(axis=2),
                        values[n * d * n_samples:, None]], axis=1)
    deltas = np.abs(np.diff(y, axis=1))
    score = (np.diff(deltas, axis=1) >= 0).sum(axis=1) / (d - 1)
    return mean_result("monotonicity", score, x=np.arange(d + 1, dtype=np.float64), curves=y,
                       curve=y.mean(axis=0), extra={"deltas": deltas, "order": order})


def infidelity(model, x, attributions, class_idx=None, *, n_perturbations=1000, scale=0.2,
               target=None, batch_size=DEFAULT_BATCH_SIZE, seed=0):
    """Infidelity (Yeh, Hsieh, Suggala, Inouye and Ravikumar, "On the (In)fidelity and
    Sensitivity of Explanations", NeurIPS 2019), as in XAI-Bench (Liu et al., NeurIPS Datasets
    and Benchmarks 2021, ``custom_metrics/infidelity.py``, which takes Yeh et al.'s
    ``set_zero_infid`` perturbation and optimal scaling from their code).

    For each datapoint x, ``n_perturbations`` perturbations I (k = 1 … K) of every feature are
    drawn, with ε ~ N(0, I_d):

        I = clip(x + scale·ε, x − 1, x)   (elementwise; i.e. min(x, ·) then max(x − 1, ·)),
        x̃ = x − I,   Δf = f(x) − f(x̃),   s = Σ_i I_i φ_i,
        β = mean_k(Δf·s) / mean_k(s²)   (β = 0 if mean_k(s²) = 0),
        infidelity(x) = mean_k((Δf − β·s)²),

    and the value is the mean over datapoints (↓, ≥ 0). β rescales φ optimally, so the score
    does not depend on the scale of the attributions. Note that x̃ = clip(−scale·ε, 0, 1) does
    not depend on x: the perturbation replaces x by a noisy zero baseline clipped to [0, 1]
    (Yeh et al.'s choice for images in [0, 1]), which XAI-Bench applies unchanged to its
    N(0, 1) features; about half the features of x̃ are exactly 0. I is recomputed as
    x − x̃ from the float32 rows actually scored, so that for a linear f and φ = ∇f, Δf = s
    and the infidelity is 0 up to the model's arithmetic. XAI-Bench also draws a random
    permutation of the features for each perturbation; since every feature is perturbed with
    i.i.d. noise it changes nothing and is not drawn. The draws are
    ``default_rng(seed).standard_normal((n, n_perturbations, d))``.

    Args:
      model: a :class:`tfpath.ModelFunction`, a Keras model or a callable ``fn(x) -> scores``
        (see :class:`tfpath.metrics.Scorer`); f is its target.
      x: feature vectors ``[n, d]``, float.
      attributions: ``[n, d]`` (signed).
      class_idx: one int or one per datapoint; None for class-free targets.
      n_perturbations: perturbations K per datapoint (XAI-Bench: 1000).
      scale: standard deviation of the noise (XAI-Bench: 0.2), ≥ 0.
      target: override the ModelFunction's target.
      batch_size: rows per model call (the metric scores ``n·(1 + K)`` rows).
      seed: seed of the private ``np.random.default_rng``.

    Returns:
      :class:`MetricResult` ``"infidelity"`` (lower is better): ``per_image`` ``[n]``,
      ``value`` their mean; ``extra["beta"]`` β ``[n]``, ``extra["full_scores"]`` f(x).

    Raises:
      ValueError / TypeError naming the argument: ``x`` not ``[n, d]``, ``attributions`` of
      another shape, NaN/inf, ``n_perturbations < 1``, a negative ``scale``, a bad
      ``class_idx``, class outputs without ``class_idx``.
    """
    scorer, x, a, c = _prepare(model, x, attributions, class_idx, target, batch_size, 1)
    n_perturbations = validation.check_positive_int(n_perturbations, "n_perturbations")
    scale = validation.check_nonnegative(scale, "scale")
    n, d = x.shape
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal((n, n_perturbations, d))
    x64 = x.astype(np.float64)[:, None, :]
    pert = np.maximum(x64 - 1.0, np.minimum(x64, x64 + scale * eps))
    rows = (x64 - pert).astype(np.float32)                       # x̃ [n, K, d]
    values = _score(scorer, [(x, 1), (rows, n_perturbations)], c)
    full = values[:n]
    df = full[:, None] - values[n:].reshape(n, n_perturbations)
    s = ((x64 - rows.astype(np.float64)) * a[:, None, :]).sum(axis=2)
    ss = np.mean(s * s, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.where(ss > 0, np.mean(df * s, axis=1) / np.where(ss > 0, ss, 1.0), 0.0)
    infid = np.mean((df - beta[:, None] * s) ** 2, axis=1)
    return mean_result("infidelity", infid, higher_is_better=False,
                       extra={"beta": beta, "full_scores": full})

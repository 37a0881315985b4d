"""XAI-BENCH-style synthetic tabular benchmark with ground-truth attributions (Zhuo and Ge,
"IG²: Integrated Gradient on Iterative Gradient Path for Feature Attribution", IEEE TPAMI 2024,
§6.1 and Appendix B.2; XAI-Bench: Liu et al. 2021): Gaussian piecewise-constant binary
classification.

X ~ N(0, I₅); the latent score is g(x) = Σ_i ψ_i(x_i) − E[Σ_i ψ_i] ("Norm[]" makes its mean
zero) and y = 1[g(x) + noise·ε > 0], with

* ψ₁(x) = 1 if x ≥ 0 else −1;
* ψ₂(x) = −2 (x < −0.5), −1 (−0.5 ≤ x < 0), 1 (0 ≤ x < 0.5), 2 (x ≥ 0.5);
* ψ₃(x) = ⌊2 cos(πx)⌋;
* ψ₄ = ψ₅ = 0 (irrelevant features).

Because g is additive and the features independent, its exact Shapley values (interventional
= observational here) are φ_i(x) = ψ_i(x_i) − E[ψ_i(X_i)]: the ground-truth attributions
(``shapley``), against which :func:`tfpath.metrics.ground_truth_correlation` gives the GT-Shapley
score. ``variant="xai_bench"`` reproduces the differences of the upstream xai-bench code
(abacusai/xai-bench, ``GaussianPiecewiseConstantBinary``) instead: ψ₂ is 0 on [−0.5, 0) (its
never-true condition), ψ₃ truncates (``int``) and maps 0 to 1, and y = 1[Σψ + noise·ε ≥ 0]
without centring.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfpath.core import validation

FEATURES = ("x1", "x2", "x3", "x4", "x5")
VARIANTS = ("paper", "xai_bench")


@dataclass
class TabularBenchmark:
    """Samples of the benchmark.

    Attributes:
      x: ``[n, 5]`` float32 features. y: ``[n]`` int64 labels.
      score: ``[n]`` the latent score g(x) (before noise and threshold).
      contributions: ``[n, 5]`` ψ_i(x_i).
      shapley: ``[n, 5]`` exact Shapley values of g: ψ_i(x_i) − E[ψ_i].
      expected: ``[5]`` E[ψ_i(X_i)].
      variant: ``"paper"`` or ``"xai_bench"``.
    """

    x: np.ndarray
    y: np.ndarray
    score: np.ndarray
    contributions: np.ndarray
    shapley: np.ndarray
    expected: np.ndarray
    variant: str
    feature_names: tuple = FEATURES


def contributions(x, variant="paper"):
    """ψ_i(x_i) for ``x [n, 5]`` (float64 ``[n, 5]``)."""
    x = np.asarray(x, np.float64)
    psi = np.zeros_like(x)
    psi[:, 0] = np.where(x[:, 0] >= 0, 1.0, -1.0)
    x2 = x[:, 1]
    psi[:, 1] = np.select([x2 < -0.5, x2 < 0, x2 < 0.5], [-2.0, -1.0, 1.0], 2.0)
    c3 = 2.0 * np.cos(np.pi * x[:, 2])
    if variant == "paper":
        psi[:, 2] = np.floor(c3)
    else:
        psi[:, 1] = np.where((x2 >= -0.5) & (x2 < 0), 0.0, psi[:, 1])
        t = np.trunc(c3)
        psi[:, 2] = np.where(t == 0, 1.0, t)
    return psi


def expected_contributions(variant="paper"):
    """E[ψ_i(X_i)] for X_i ~ N(0, 1), exactly: every ψ_i is piecewise constant, so the
    expectation is Σ ψ(interval) · (Φ(b) − Φ(a)) over the intervals between breakpoints
    (ψ₃ breaks where 2cos(πx) is an integer: x = ±arccos(k/2)/π + 2m)."""
    from scipy.stats import norm
    k = np.arange(-2, 3)
    base = np.concatenate([np.arccos(k / 2.0), -np.arccos(k / 2.0)]) / np.pi
    breaks3 = (base[:, None] + 2.0 * np.arange(-6, 7)[None, :]).reshape(-1)
    breaks = np.unique(np.concatenate([[-0.5, 0.0, 0.5], breaks3]))
    breaks = breaks[np.abs(breaks) < 12.0]
    edges = np.concatenate([[-np.inf], breaks, [np.inf]])
    mids = np.concatenate([[breaks[0] - 1.0], (breaks[:-1] + breaks[1:]) / 2.0,
                           [breaks[-1] + 1.0]])
    probs = np.diff(norm.cdf(edges))
    return (contributions(np.repeat(mids[:, None], 5, axis=1), variant) * probs[:, None]).sum(
        axis=0)


def make_xai_bench(n=1000, noise=0.01, variant="paper", seed=0):
    """Draws ``n`` samples of the benchmark.

    Args:
      n: samples. noise: standard deviation of the label noise (the xai-bench example config
        uses 0.01; the paper does not state it). variant: ``"paper"`` or ``"xai_bench"``.
      seed: seed.

    Returns:
      :class:`TabularBenchmark`.

    Raises:
      ValueError / TypeError naming the argument.
    """
    n = validation.check_positive_int(n, "n")
    noise = validation.check_nonnegative(noise, "noise")
    if variant not in VARIANTS:
        raise ValueError(f"variant: expected one of {VARIANTS}, received {variant!r}")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 5))
    psi = contributions(x, variant)
    expected = expected_contributions(variant)
    if variant == "paper":
        score = psi.sum(axis=1) - expected.sum()
        y = (score + noise * rng.standard_normal(n) > 0).astype(np.int64)
    else:
        score = psi.sum(axis=1)
        y = (score + noise * rng.standard_normal(n) >= 0).astype(np.int64)
    return TabularBenchmark(x.astype(np.float32), y, score, psi, psi - expected[None, :],
                            expected, variant)


def load_xai_bench(n_train=1000, n_test=100, noise=0.01, variant="paper", seed=0):
    """Train and test draws (1000 / 100 as the xai-bench example config).

    Returns:
      ``(train, test)`` :class:`TabularBenchmark` pairs from independent streams of ``seed``.
    """
    train = make_xai_bench(n_train, noise, variant, seed)
    test = make_xai_bench(n_test, noise, variant, seed + 1_000_003)
    return train, test

"""Counterfactual explanations of uncertainty: the CLUE family (Antorán et al., "Getting a
CLUE", ICLR 2021; Ley, Bhatt and Weller, "Diverse, Global and Amortised Counterfactual
Explanations for Uncertainty Estimates", AAAI 2022).

* :class:`CLUE` — one CE per input: a certain point found by descent from the input's code in
  a VAE's latent space (with λx > 0, the nearest such point in the trade-off of Eq. 1);
* :class:`DeltaCLUE` — k CEs per input in a δ-ball, started by the schemes S1–S5
  (:mod:`tfpath.counterfactuals.starts`);
* :class:`NablaCLUE` — k CEs optimised jointly with a diversity term (simultaneous,
  sequential, penalty; a diversity-maximising pre-step);
* :class:`GLAMCLUE` — global amortised CEs: one latent translation per (uncertain group →
  certain group), and the baselines of the paper's Table 2 (:func:`input_dbm`,
  :func:`latent_dbm`, :func:`input_nn`, :func:`latent_nn`).

Every search is batched over inputs × k chains in one compiled loop
(:func:`tfpath.generative.minimize_latent`). A result's CEs are baselines of any path method
(:meth:`CLUEResult.as_baselines`); its diversity metrics are in :mod:`tfpath.metrics.diversity`.

The paper's 23 ambiguities, typos and gaps, and how tfpath resolves each (details in the
docstrings of :mod:`~tfpath.counterfactuals.clue`, :mod:`~tfpath.counterfactuals.starts`,
:mod:`~tfpath.counterfactuals.glam` and :mod:`tfpath.metrics.diversity`):

1. Algorithm 3's projection omits "z0 +": tfpath projects onto the ball, ``z0 + δ(z − z0)/ρ``.
2. Sequential ∇-CLUE prints ``+λD D``: tfpath minimises ``−λD D`` (as Algorithm 1).
3. "ŷ = max_j y_j" means argmax: labels are the argmax of the posterior predictive.
4. Coverage: the Table 1 formula (the per-feature range of the set, the default) and the
   clipped reading of Appendix C (``clip=True``); D_max = (S⁺ − S⁻)/d′ (the "−" of its
   derivation is a "+").
5. "D = 0 for k = 1": applied to DPP and APD; the other metrics keep their natural values.
6. λx of the "distance" runs: 0 in the search by default (``CLUESettings``), 0.03 in costs.
7. The optimiser: Adam, learning rate 0.1, 30 steps, for every search and for GLAM.
8. Fig. 9's "batch 6000, lr 0.1, 30 iterations": read as GLAM's full-batch training.
9. GLAM 2/3's "corresponding" CLUEs: Eq. 2's set minimum by default, ``paired=True`` pairs.
10. Unstated thresholds: H_threshold None (accept all); certain / uncertain by entropy
    quantiles (:func:`split_by_uncertainty`); the NN baselines use ℓ2 and return raw points.
11. Group of an uncertain point: the caller's labels (true class in training, e.g. the
    predicted class at inference).
12. S2: nearest anchor in latent space, "Y|n" read as Y|k, the rest filled with S1.
13. S5: equal arc-length steps along the normalised class-probability gradient.
14. S3: a half-normal radius, σ = r/2, truncated at r by rejection.
15. Credit's 24 dimensions (before or after one-hot encoding): not needed; any tabular
    array works (the tests use scikit-learn's breast-cancer set scaled to [0, 1]).
16. Synbols "black and white" vs RGB: not reproduced; any image shape works.
17. The unstated VAE / BNN details: any encoder / decoder pair and any Bayesian wrapper of
    :mod:`tfpath.uncertainty`; the benchmark documents its own.
18. ∇-CLUE's initialisation and λx: S1 with r = δ, λx = 0.
19. Timing: per CE, the whole batch's time over its CEs, warm, wall and CPU time, CLUE and
    GLAM batched alike (``benchmarks/clue_table.py``).
20. The label distribution: normalised, 0 for classes not reached, ``p(c) ∝ min-cost(c)⁻²``.
21. θ (decoder vs translation): ``decoder`` and ``shift``.
22. Figure cross-reference typos: no effect on the methods.
23. Diversity in the objective: latent space (DPP or APD), as in the paper's experiments.

Example::

    from tfpath.counterfactuals import DeltaCLUE
    result = DeltaCLUE(MCDropout(model, 16), vae, delta=2.0, k=10).explain(x_uncertain)
    masks = tfpath.IntegratedGradients().GetMaskBatch(
        x_uncertain, mf, baselines=result.as_baselines("cost"))
"""
from tfpath.counterfactuals.clue import (CLUE, CLUEResult, CLUESettings, DeltaCLUE, NablaCLUE,
                                         set_diversity)
from tfpath.counterfactuals.glam import (GLAMCLUE, GLAMResult, GLAMSettings, input_dbm, input_nn,
                                         latent_dbm, latent_nn, split_by_uncertainty)
from tfpath.counterfactuals.starts import (Centre, ClassGradientPath, Gaussian,
                                           NearestNeighbourPath, RadialHalfGaussian,
                                           RadialUniform, StartScheme, UniformCube)

__all__ = ["CLUE", "CLUEResult", "CLUESettings", "DeltaCLUE", "NablaCLUE", "set_diversity",
           "Centre", "ClassGradientPath", "Gaussian", "NearestNeighbourPath",
           "RadialHalfGaussian", "RadialUniform", "StartScheme", "UniformCube", "GLAMCLUE",
           "GLAMResult", "GLAMSettings", "input_dbm", "input_nn", "latent_dbm", "latent_nn",
           "split_by_uncertainty"]

"""GLAM-CLUE: one learnt latent translation per pair of groups, and the baselines it is compared
with (Ley, Bhatt and Weller, "Diverse, Global and Amortised Counterfactual Explanations for
Uncertainty Estimates", AAAI 2022, § GLAM-CLUE, Eq. 2, Algorithm 2, Appendix E, Table 2).

The data are split into groups (class labels by default) and into certain and uncertain points.
For each requested pair (uncertain group i → certain group j), GLAM-CLUE learns a translation
``shift`` θ_{i→j} ∈ R^m of the latent space, G(z) = z + θ, minimising (Eq. 2)

    L(θ) = λθ · ‖θ‖₁ + (1 / |Z_unc|) Σ_{z ∈ Z_unc} min_{x ∈ X_cert} ‖ψ(z + θ) − x‖₂²,

where Z_unc are the encoder's means of the uncertain members of group i, X_cert the certain
members of group j (training points, or the CLUEs of the uncertain points) and ψ the decoder.
The counterfactual explanation (CE) of a new uncertain input x of group i is then
ψ(encode(x) + θ_{i→j}): one compiled encoder-and-decoder pass (per 256 inputs), no search
per input.

The set minimum is a 1-nearest-neighbour match computed in TensorFlow: the neighbour is chosen
with ``‖a‖² + ‖b‖² − 2 a·b`` over chunks of ``chunk_size`` rows of X_cert (memory
``|Z_unc| × chunk_size``), and the loss is the exact squared distance to the chosen neighbour,
so the gradient flows through the minimum via the selected neighbour (the gradient of the min
almost everywhere). Group labels are ints or strings; ``"*"`` is reserved: it stands for all
groups pooled, e.g. the pair ``("*", "*")`` is the generic mapper and ``(i, "*")`` maps the
uncertain members of group i to the nearest certain point of any group.

How this module resolves what the paper leaves open:

* Symbols: the paper writes θ both for the decoder's parameters and for the translation; here
  the decoder is ψ (``decoder``) and the translation is called ``shift``.
* Optimiser: the paper does not state optimiser, learning rate or number of iterations in the
  main text; the defaults follow its Fig. 9 caption: Adam (Kingma and Ba, ICLR 2015, with the
  Keras β₁ = 0.9, β₂ = 0.999, ε = 1e-7), learning rate 0.1, 30 full-batch steps
  (:class:`GLAMSettings`). The start is the latent difference between means (DBM),
  ``mean(encode(X_cert)) − mean(encode(X_unc))``, so ``steps=0`` is the latent DBM baseline
  exactly, as the paper notes (latent DBM is GLAM-CLUE at its initialisation).
* CLUEs as targets: the paper says the CLUEs "correspond" to the uncertain points, while Eq. 2
  takes the set minimum. The default is the set minimum of Eq. 2; ``paired=True`` reads row k
  of ``x_certain`` as the target of row k of ``x_uncertain`` and uses
  ``(1/n) Σ_k ‖ψ(z_k + θ) − x_k‖²`` over the rows whose two group labels match the pair.
* Groups: for training the caller passes groups by true label (the paper's experiments: the
  uncertain 4s → the certain 4s, the default ``pairs="within"``); at inference
  :meth:`GLAMCLUE.explain` uses whatever groups the caller passes (e.g. the predicted class,
  when the true label is unknown).
* Certain / uncertain: the paper states no thresholds. :func:`split_by_uncertainty` splits by
  quantiles of the predictive entropy (certain: the lowest 20 %, uncertain: the highest 20 %,
  a library default), or by absolute thresholds. The entropies can come from
  :func:`tfpath.uncertainty.measures.predictive_uncertainty` (its ``total``).
* Nearest-neighbour baselines: the paper states neither the metric nor whether the neighbour
  is reconstructed; :func:`input_nn` and :func:`latent_nn` use the ℓ2 distance (in input
  space and between latent means) and return the raw certain training point.
* Input DBM: the paper says the input-space DBM is "reconstructed"; :func:`input_dbm` adds the
  input-space difference between means, clips to ``bounds`` and returns
  ψ(encode(·)) of the result (``reconstruct=False`` returns the clipped point itself).

Example::

    certain, uncertain = split_by_uncertainty(predictive_uncertainty(model, x_train).total)
    glam = GLAMCLUE(vae).fit(x_train[uncertain], y_train[uncertain],
                             x_train[certain], y_train[certain])
    result = glam.explain(x_test, predicted_class)      # result.x: the CEs
"""
from __future__ import annotations

import dataclasses
import json
import numbers
import time
from dataclasses import dataclass
from typing import Dict, Hashable, List, Optional, Tuple

import numpy as np
import tensorflow as tf

from tfpath.core import compiled, keras_utils, validation
from tfpath.core import progress as progress_lib
from tfpath.generative import fiducial, search
from tfpath.generative.latent import Adam

ALL = "*"
FORMAT = "tfpath.glam_clue/1"

Pair = Tuple[Hashable, Hashable]


# ----------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class GLAMSettings:
    """How GLAM-CLUE fits a translation (the defaults: the paper's Fig. 9 caption).

    Attributes:
      l1_weight: λθ, the weight of ``‖θ‖₁`` in Eq. 2 (>= 0).
      steps: full-batch Adam steps per group pair (>= 0; 0 keeps the DBM start exactly).
      learning_rate: Adam's learning rate (> 0).
      chunk_size: rows of the certain set per block of the nearest-neighbour search (>= 1).
      paired: False: the set minimum of Eq. 2; True: row k of the certain inputs is the target
        of row k of the uncertain inputs (e.g. its CLUE).

    Raises:
      TypeError / ValueError naming the field: a negative ``l1_weight``, ``steps < 0``, a
      non-positive learning rate, ``chunk_size < 1``, a non-bool ``paired``.
    """

    l1_weight: float = 0.0
    steps: int = 30
    learning_rate: float = 0.1
    chunk_size: int = 1024
    paired: bool = False

    def __post_init__(self):
        validation.check_nonnegative(self.l1_weight, "l1_weight")
        validation.check_positive_int(self.steps, "steps", minimum=0)
        validation.check_positive(self.learning_rate, "learning_rate")
        validation.check_positive_int(self.chunk_size, "chunk_size")
        validation.check_bool(self.paired, "paired")


@dataclass
class GLAMResult:
    """The counterfactual explanations of a batch (NumPy; row k is input k).

    Attributes:
      z: the shifted latents ``encode(x) + θ`` ``[B, m]``.
      x: the CEs ψ(z) ``[B, ...]``.
      z_original: the encoder's means ``encode(x)`` ``[B, m]``.
    """

    z: np.ndarray
    x: np.ndarray
    z_original: np.ndarray


# ----------------------------------------------------------------------------- group labels
def _label(value, name):
    """One group label as a Python int or str."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, str)):
        raise TypeError(f"{name}: expected group labels that are ints or strings (\"*\" for all "
                        f"groups), received {value!r} ({type(value).__name__})")
    return int(value) if isinstance(value, numbers.Integral) else value


def _labels(values, n, name):
    """Group labels ``[n]`` as an object array of Python ints / strs.

    None means every row is in the pooled group ``"*"``; one label is broadcast to all rows.
    """
    if values is None:
        return np.full(n, ALL, dtype=object)
    if isinstance(values, (str, numbers.Integral, np.generic)):
        return np.full(n, _label(values, name), dtype=object)
    if not isinstance(values, np.ndarray):        # a list may mix ints and "*": keep each type
        try:
            items = list(values)
        except TypeError:
            raise TypeError(f"{name}: expected group labels (ints or strings), received "
                            f"{type(values).__name__}") from None
        if len(items) != n:
            raise ValueError(f"{name}: expected {n} group labels (one per row), received "
                             f"{len(items)}")
        out = np.empty(n, dtype=object)
        out[:] = [_label(v, name) for v in items]
        return out
    arr = values
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name}: expected {n} group labels (one per row), received shape "
                         f"{arr.shape}")
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64).astype(object)
    if arr.dtype.kind == "U":
        return arr.astype(object)
    if arr.dtype.kind != "O":
        raise TypeError(f"{name}: expected group labels that are ints or strings, received dtype "
                        f"{arr.dtype}")
    return np.array([_label(v, name) for v in arr], dtype=object)


def _members(labels, group):
    """Boolean mask of the rows in ``group`` (all rows for ``"*"``)."""
    if group == ALL:
        return np.ones(labels.shape[0], bool)
    return _labelled(labels, group)


def _labelled(labels, label):
    """Boolean mask of the rows whose label is literally ``label``."""
    return np.asarray(labels == label, bool).reshape(labels.shape)


def _sort_key(label):
    return (isinstance(label, str), label if isinstance(label, str) else int(label))


def _resolve_pairs(pairs, groups_uncertain) -> List[Pair]:
    if isinstance(pairs, str):
        if pairs != "within":
            raise ValueError(f"pairs: expected \"within\" or a list of (uncertain group, certain "
                             f"group) pairs, received {pairs!r}")
        return [(g, g) for g in sorted(set(groups_uncertain.tolist()), key=_sort_key)]
    if isinstance(pairs, tuple) and len(pairs) == 2 and \
            not any(isinstance(p, (list, tuple)) for p in pairs):
        pairs = [pairs]
    try:
        items = list(pairs)
    except TypeError:
        raise TypeError(f"pairs: expected \"within\" or a list of (uncertain group, certain "
                        f"group) pairs, received {pairs!r}") from None
    out = []
    for item in items:
        if not isinstance(item, (list, tuple)) or len(item) != 2:
            raise ValueError(f"pairs: expected pairs (uncertain group, certain group), received "
                             f"{item!r}")
        key = (_label(item[0], "pairs"), _label(item[1], "pairs"))
        if key not in out:
            out.append(key)
    if not out:
        raise ValueError("pairs: expected at least one (uncertain group, certain group) pair, "
                         "received none")
    return out


def _check_members(pair, groups_uncertain, groups_certain, paired):
    """The row masks (uncertain, certain) of one pair; raises naming the empty side."""
    source, target = pair
    unc = _members(groups_uncertain, source)
    cert = _members(groups_certain, target)
    if not unc.any():
        raise ValueError(f"groups_uncertain: group {source!r} has no uncertain members "
                         f"(requested pair {pair!r})")
    if not cert.any():
        raise ValueError(f"groups_certain: group {target!r} has no certain members "
                         f"(requested pair {pair!r})")
    if paired:
        rows = unc & cert
        if not rows.any():
            raise ValueError(f"groups_uncertain: no row k has groups_uncertain[k] in {source!r} "
                             f"and groups_certain[k] in {target!r} (requested pair {pair!r}, "
                             "paired=True)")
        return rows, rows
    return unc, cert


# ----------------------------------------------------------------------------- array checks
def _inputs(value, name):
    return validation.check_array(value, name, min_rank=2)


def _same_shape(value, name, reference, reference_name):
    if value.shape[1:] != reference.shape[1:]:
        row = ", ".join(map(str, reference.shape[1:]))
        raise ValueError(f"{name}: expected inputs of shape [n, {row}] (the shape of "
                         f"{reference_name}), received {value.shape}")


def _decoder(decoder, encoder):
    if decoder is None and getattr(encoder, "decoder", None) is None:
        raise ValueError("decoder: GLAM-CLUE needs a decoder ψ: pass decoder=, or an encoder "
                         "with a decoder attribute (a VAE)")
    return fiducial.decoder_of(decoder, encoder)


def _encoder(encoder):
    if not callable(getattr(encoder, "encoder", encoder)):
        raise TypeError(f"encoder: expected a Keras model, a callable or a VAE, received "
                        f"{type(encoder).__name__}")
    return encoder


def _difference_of_means(target, source):
    """``mean(target) − mean(source)`` over rows (float64 sums), as float32."""
    return (target.astype(np.float64).mean(axis=0)
            - source.astype(np.float64).mean(axis=0)).astype(np.float32)


# ----------------------------------------------------------------------------- nearest neighbours
def _nearest(queries, references, reference_sq, chunk_size):
    """Index ``[n_q]`` (int64) and squared distance of each query's nearest reference.

    ``‖a‖² + ‖b‖² − 2 a·b`` over blocks of ``chunk_size`` references; ties keep the first index.
    """
    query_sq = tf.reduce_sum(tf.square(queries), axis=1)
    n_ref = tf.shape(references)[0]
    best = tf.fill(tf.shape(query_sq), tf.constant(np.inf, queries.dtype))
    best_index = tf.zeros(tf.shape(query_sq), tf.int64)

    def body(start, best, best_index):
        stop = tf.minimum(start + chunk_size, n_ref)
        block = references[start:stop]
        d = (query_sq[:, None] + reference_sq[None, start:stop]
             - 2.0 * tf.matmul(queries, block, transpose_b=True))
        local = tf.reduce_min(d, axis=1)
        index = tf.argmin(d, axis=1) + tf.cast(start, tf.int64)
        better = local < best
        return stop, tf.where(better, local, best), tf.where(better, index, best_index)

    _, best, best_index = tf.while_loop(lambda start, *_: start < n_ref, body,
                                        (tf.constant(0), best, best_index))
    return best_index, tf.maximum(best, 0.0)


def nearest_neighbours(queries, references, chunk_size: int = 1024):
    """The nearest reference row (ℓ2) of each query row, searched in blocks (float64).

    Args:
      queries: ``[n, ...]`` real array (rows are flattened; computed in float64).
      references: ``[r, ...]`` real array of the same row shape.
      chunk_size: references per block (memory ``n × chunk_size``).

    Returns:
      ``(indices, squared_distances)``: int64 ``[n]`` (ties keep the first reference) and
      float64 ``[n]``.

    Raises:
      TypeError / ValueError naming the argument: not real arrays of rank >= 2, NaN or inf,
      different row shapes, a bad ``chunk_size``.
    """
    queries = validation.check_real_array(queries, "queries")
    references = validation.check_real_array(references, "references")
    for name, value in (("queries", queries), ("references", references)):
        if value.ndim < 2:
            raise ValueError(f"{name}: expected rows [n, ...] (rank >= 2), received shape "
                             f"{value.shape}")
    _same_shape(references, "references", queries, "queries")
    chunk_size = validation.check_positive_int(chunk_size, "chunk_size")
    q = tf.constant(queries.reshape(queries.shape[0], -1), tf.float64)
    r = tf.constant(references.reshape(references.shape[0], -1), tf.float64)
    index, distance = _nearest(q, r, tf.reduce_sum(tf.square(r), axis=1), chunk_size)
    return index.numpy(), distance.numpy()


# ----------------------------------------------------------------------------- the loss
def _loss(decoder, shift, z_uncertain, x_certain, x_certain_sq, l1_weight, chunk_size, paired):
    """Eq. 2 at ``shift [m]`` (TensorFlow; x_certain flattened ``[r, D]``)."""
    decoded = tf.cast(keras_utils.call_inference(decoder, z_uncertain + shift[None]), tf.float32)
    decoded = tf.reshape(decoded, [tf.shape(decoded)[0], -1])
    if paired:
        target = x_certain
    else:
        index, _ = _nearest(tf.stop_gradient(decoded), x_certain, x_certain_sq, chunk_size)
        target = tf.gather(x_certain, index)
    data = tf.reduce_mean(tf.reduce_sum(tf.square(decoded - target), axis=1))
    return l1_weight * tf.reduce_sum(tf.abs(shift)) + data


def translation_loss(shift, z_uncertain, x_certain, decoder, *, l1_weight: float = 0.0,
                     chunk_size: int = 1024, paired: bool = False) -> float:
    """GLAM-CLUE's loss (Eq. 2) of one translation.

    ``λθ ‖θ‖₁ + mean_z min_x ‖ψ(z + θ) − x‖²`` (or ``mean_k ‖ψ(z_k + θ) − x_k‖²`` if
    ``paired``), the minimum searched in blocks of ``chunk_size`` certain rows.

    Args:
      shift: θ ``[m]``.
      z_uncertain: the uncertain latents ``[n, m]``.
      x_certain: the certain inputs ``[r, ...]`` (``r = n`` if ``paired``).
      decoder: ψ, a Keras model or a TF callable ``[n, m] -> [n, ...]``.
      l1_weight: λθ (>= 0).
      chunk_size: certain rows per block of the nearest-neighbour search.
      paired: row k of ``x_certain`` is the target of row k of ``z_uncertain``.

    Returns:
      The loss, a float.

    Raises:
      TypeError / ValueError naming the argument: non-float or non-finite arrays, a shift of
      another size than the latents, a negative ``l1_weight``, row counts that differ when
      ``paired``, a decoder whose output shape is not the inputs' (named ``decoder``).
    """
    z = validation.check_array(z_uncertain, "z_uncertain", min_rank=2)
    if z.ndim != 2:
        raise ValueError(f"z_uncertain: expected latents of shape [n, m], received {z.shape}")
    shift = validation.check_array(shift, "shift", min_rank=1)
    if shift.shape != (z.shape[1],):
        raise ValueError(f"shift: expected shape ({z.shape[1]},) (the latent size of "
                         f"z_uncertain), received {shift.shape}")
    x = _inputs(x_certain, "x_certain")
    l1_weight = validation.check_nonnegative(l1_weight, "l1_weight")
    chunk_size = validation.check_positive_int(chunk_size, "chunk_size")
    paired = validation.check_bool(paired, "paired")
    if paired and x.shape[0] != z.shape[0]:
        raise ValueError(f"x_certain: paired=True needs one certain row per uncertain latent "
                         f"({z.shape[0]}), received {x.shape[0]}")
    search.check_decoder(decoder, x, z)
    flat = tf.constant(x.reshape(x.shape[0], -1))
    value = _loss(decoder, tf.constant(shift), tf.constant(z), flat,
                  tf.reduce_sum(tf.square(flat), axis=1), l1_weight, chunk_size, paired)
    value = float(value.numpy())
    if not np.isfinite(value):
        raise ValueError("decoder: the loss is NaN or inf (the decoder returns non-finite "
                         "values for the shifted latents)")
    return value


# ----------------------------------------------------------------------------- GLAM-CLUE
class GLAMCLUE:
    """Global amortised CLUE: one latent translation per (uncertain group → certain group).

    Ley, Bhatt and Weller, AAAI 2022, § GLAM-CLUE, Eq. 2, Algorithm 2: ``fit`` learns θ_{i→j}
    for every requested pair from the DBM start with full-batch Adam; ``explain`` maps a batch
    of uncertain inputs with one compiled encoder-and-decoder pass per 256 inputs. Nothing is
    written into the encoder, the decoder or the caller's arrays.

    Args:
      encoder: a Keras model or callable ``x -> mean`` or ``x -> (mean, log_variance, ...)``, or
        a VAE (an object with ``encoder`` / ``decoder`` attributes), as
        :func:`tfpath.generative.fiducial.encode_mean`.
      decoder: ψ, a Keras model or a TF callable ``z [n, m] -> [n, ...]``; None takes
        ``encoder.decoder``.
      settings: :class:`GLAMSettings`.

    Raises:
      TypeError naming the argument: an encoder or decoder that is not callable, settings that
      are not :class:`GLAMSettings`. ValueError naming ``decoder``: no decoder given.
    """

    def __init__(self, encoder, decoder=None, settings: GLAMSettings = GLAMSettings()):
        if not isinstance(settings, GLAMSettings):
            raise TypeError(f"settings: expected GLAMSettings, received "
                            f"{type(settings).__name__}")
        self._encoder = _encoder(encoder)
        self._decoder = _decoder(decoder, encoder)
        self._settings = settings
        self._shifts: Dict[Pair, np.ndarray] = {}
        self._dbm: Dict[Pair, np.ndarray] = {}
        self._losses: Dict[Pair, float] = {}
        self._initial_losses: Dict[Pair, float] = {}
        self._seconds: Dict[Pair, float] = {}
        self._apply = None

    # ------------------------------------------------------------------ properties
    @property
    def settings(self) -> GLAMSettings:
        """The :class:`GLAMSettings` of this explainer.

        Returns:
          The settings given at construction (or read by :meth:`load`).
        """
        return self._settings

    @property
    def shifts(self) -> Dict[Pair, np.ndarray]:
        """The fitted translations.

        Returns:
          A new dict ``{(i, j): θ [m] float32}`` (copies; changing them changes nothing here).
        """
        return {k: v.copy() for k, v in self._shifts.items()}

    @property
    def dbm(self) -> Dict[Pair, np.ndarray]:
        """The DBM starts ``mean(encode(X_cert_j)) − mean(encode(X_unc_i))``.

        Returns:
          A new dict ``{(i, j): [m] float32}``.
        """
        return {k: v.copy() for k, v in self._dbm.items()}

    @property
    def losses(self) -> Dict[Pair, float]:
        """The loss (Eq. 2) at each fitted translation.

        Returns:
          A new dict ``{(i, j): float}``.
        """
        return dict(self._losses)

    @property
    def initial_losses(self) -> Dict[Pair, float]:
        """The loss (Eq. 2) at each DBM start.

        Returns:
          A new dict ``{(i, j): float}``.
        """
        return dict(self._initial_losses)

    @property
    def training_seconds(self) -> Dict[Pair, float]:
        """Wall-clock seconds of each pair's optimisation (the one-off tracing excluded).

        Returns:
          A new dict ``{(i, j): float}``.
        """
        return dict(self._seconds)

    # ------------------------------------------------------------------ fit
    def fit(self, x_uncertain, groups_uncertain, x_certain, groups_certain,
            pairs="within", progress=None) -> "GLAMCLUE":
        """Learns θ_{i→j} for every requested pair (replacing any earlier fit).

        Args:
          x_uncertain: the uncertain inputs ``[n, ...]`` (float).
          groups_uncertain: their group labels ``[n]`` (ints or strings, e.g. the true class);
            one label for all rows; None: all rows in the pooled group ``"*"``.
          x_certain: the certain inputs ``[r, ...]`` (training points, or with
            ``settings.paired`` the CLUE of each uncertain row, ``r = n``).
          groups_certain: their group labels ``[r]``, as ``groups_uncertain``.
          pairs: ``"within"`` (every uncertain group i → the certain members of i), or a list of
            ``(i, j)`` pairs (one pair alone is accepted too), where ``"*"`` stands for all
            groups pooled.
          progress: a bar over the pairs on stderr: None (on a terminal only), True, False.

        Returns:
          ``self``.

        Raises:
          TypeError / ValueError naming the argument: non-float inputs, NaN or inf
          (``x_uncertain`` / ``x_certain``), different row shapes (``x_certain``), label
          counts that differ from the rows (``groups_uncertain`` / ``groups_certain``), a
          group without certain members (``groups_certain``) or without uncertain members in
          a requested pair (``groups_uncertain``), bad ``pairs``, an encoder returning
          non-finite latents (``encoder``), a decoder whose output shape is not the inputs' or
          whose loss is not finite (``decoder``).
        """
        settings = self._settings
        x_u = _inputs(x_uncertain, "x_uncertain")
        x_c = _inputs(x_certain, "x_certain")
        _same_shape(x_c, "x_certain", x_u, "x_uncertain")
        g_u = _labels(groups_uncertain, x_u.shape[0], "groups_uncertain")
        g_c = _labels(groups_certain, x_c.shape[0], "groups_certain")
        if settings.paired and x_c.shape[0] != x_u.shape[0]:
            raise ValueError(f"x_certain: paired=True needs one certain row per uncertain row "
                             f"({x_u.shape[0]}), received {x_c.shape[0]}")
        requested = _resolve_pairs(pairs, g_u)
        masks = [_check_members(p, g_u, g_c, settings.paired) for p in requested]

        z_u = fiducial.encode_mean(self._encoder, x_u)
        z_c = fiducial.encode_mean(self._encoder, x_c)
        search.check_decoder(self._decoder, x_u, z_u)
        m = z_u.shape[1]
        flat_c = x_c.reshape(x_c.shape[0], -1)
        width = flat_c.shape[1]

        # the data of the current pair live in variables of unknown row count, so the compiled
        # optimisation is traced once per fit and serves every pair
        z_var = tf.Variable(tf.zeros([0, m]), shape=tf.TensorShape([None, m]), trainable=False)
        x_var = tf.Variable(tf.zeros([0, width]), shape=tf.TensorShape([None, width]),
                            trainable=False)
        sq_var = tf.Variable(tf.zeros([0]), shape=tf.TensorShape([None]), trainable=False)
        start_var = tf.Variable(tf.zeros([m]), trainable=False)
        adam = Adam(learning_rate=settings.learning_rate)
        decoder, steps = self._decoder, settings.steps
        l1, chunk, paired = settings.l1_weight, settings.chunk_size, settings.paired

        def loss_at(shift):
            return _loss(decoder, shift, z_var, x_var, sq_var, l1, chunk, paired)

        @tf.function
        def optimise():
            shift = start_var[None]                                      # [1, m]
            state = adam.init(shift)
            active = tf.ones([1], tf.bool)
            initial = loss_at(start_var)

            def body(step, shift, state):
                with tf.GradientTape() as tape:
                    tape.watch(shift)
                    value = loss_at(shift[0])
                grad = tape.gradient(value, shift)
                shift, state = adam.step(shift, grad, state, active)
                return step + 1, shift, state

            _, shift, _ = tf.while_loop(lambda step, *_: step < steps, body,
                                        (tf.constant(0), shift, state))
            return shift[0], initial, loss_at(shift[0])

        optimise.get_concrete_function()                       # trace before the clocks run
        shifts, dbm, losses, initial_losses, seconds = {}, {}, {}, {}, {}
        bar = progress_lib.Progress(len(requested), "GLAMCLUE.fit", enabled=progress,
                                    unit="pair")
        for pair, (unc, cert) in zip(requested, masks):
            start = _difference_of_means(z_c[cert], z_u[unc])
            targets = flat_c[cert]
            z_var.assign(z_u[unc])
            x_var.assign(targets)
            sq_var.assign(np.square(targets).sum(axis=1))
            start_var.assign(start)
            began = time.perf_counter()
            shift, initial, final = optimise()
            shift = shift.numpy()
            seconds[pair] = time.perf_counter() - began
            initial, final = float(initial.numpy()), float(final.numpy())
            if not (np.isfinite(initial) and np.isfinite(final) and np.all(np.isfinite(shift))):
                raise ValueError(f"decoder: the loss of pair {pair!r} is NaN or inf (the decoder "
                                 "returns non-finite values, or the learning rate is too large)")
            shifts[pair] = start.copy() if steps == 0 else shift.astype(np.float32)
            dbm[pair], losses[pair], initial_losses[pair] = start, final, initial
            bar.update(1, f"{pair[0]!r}→{pair[1]!r} loss {final:.4g}")
        bar.close()
        self._shifts, self._dbm, self._losses = shifts, dbm, losses
        self._initial_losses, self._seconds = initial_losses, seconds
        return self

    # ------------------------------------------------------------------ explain
    def explain(self, x, groups, target_groups=None) -> GLAMResult:
        """The CEs ψ(encode(x) + θ_{g→t}) of a batch (one compiled encoder-and-decoder pass per
        256 inputs).

        Args:
          x: uncertain inputs ``[B, ...]`` (float).
          groups: the group of each input ``[B]`` (e.g. its predicted class; one label for all
            rows; ``"*"`` for the pooled mapper).
          target_groups: the certain group to map each input to ``[B]``; None: its own group.

        Returns:
          :class:`GLAMResult`.

        Raises:
          TypeError / ValueError naming the argument: non-float ``x`` or NaN/inf in it, label
          counts that differ from the rows (``groups`` / ``target_groups``), a pair that was not
          fitted (``groups``), latents of another size than the shifts or not finite
          (``encoder``), a decoder whose output shape is not the inputs' or not finite
          (``decoder``).
        """
        if not self._shifts:
            raise ValueError("groups: no group pair is fitted yet; call fit() or load() first")
        x = _inputs(x, "x")
        g = _labels(groups, x.shape[0], "groups")
        t = g if target_groups is None else _labels(target_groups, x.shape[0], "target_groups")
        keys = list(zip(g.tolist(), t.tolist()))
        missing = [k for k in dict.fromkeys(keys) if k not in self._shifts]
        if missing:
            raise ValueError(f"groups: no shift was fitted for the pair(s) {missing[:5]} (group → "
                             f"target group); fitted pairs: {list(self._shifts)}")
        shift = np.stack([self._shifts[k] for k in keys])
        z, x_ce = [], []
        for i in range(0, x.shape[0], 256):
            try:
                latent, decoded = self._compiled_apply()(tf.constant(x[i:i + 256]),
                                                         tf.constant(shift[i:i + 256]))
            except (ValueError, tf.errors.InvalidArgumentError) as e:
                raise ValueError(f"encoder: its latents do not fit the fitted shifts of size "
                                 f"{shift.shape[1]} or the decoder ({e})") from e
            z.append(latent.numpy())
            x_ce.append(decoded.numpy())
        z, x_ce = np.concatenate(z), np.concatenate(x_ce)
        if not np.all(np.isfinite(z)):
            raise ValueError("encoder: returned NaN or inf latents")
        if x_ce.shape[1:] != x.shape[1:]:
            raise ValueError(f"decoder: its output shape {x_ce.shape[1:]} differs from the "
                             f"inputs' shape {x.shape[1:]}")
        if not np.all(np.isfinite(x_ce)):
            raise ValueError("decoder: returns NaN or inf for some latents")
        return GLAMResult(z + shift, x_ce, z)

    def _compiled_apply(self):
        """``(x, shift) -> (φ(x), ψ(φ(x) + shift))`` as one compiled call (the inference step
        is one encoder and one decoder pass, traced once per input shape)."""
        if self._apply is None:
            encoder = getattr(self._encoder, "encoder", self._encoder)
            decoder = self._decoder

            @tf.function(reduce_retracing=True)
            def apply(x, shift):
                mean = keras_utils.call_inference(encoder, x)
                if isinstance(mean, (list, tuple)):
                    mean = mean[0]
                mean = tf.cast(mean, tf.float32)
                return mean, tf.cast(keras_utils.call_inference(decoder, mean + shift),
                                     tf.float32)
            self._apply = compiled.quiet_tracing(apply)
        return self._apply

    # ------------------------------------------------------------------ persistence
    def save(self, path) -> None:
        """Writes the settings and the fitted shifts (with their DBM starts, losses and times)
        to one ``.npz`` file at ``path`` (exactly that name); the models are not saved.

        Args:
          path: a file name or path-like.

        Returns:
          None.

        Raises:
          ValueError naming ``path``: nothing was fitted. OSError: the file cannot be written.
        """
        if not self._shifts:
            raise ValueError("path: nothing to save; call fit() first")
        pairs = list(self._shifts)
        meta = {"format": FORMAT, "settings": dataclasses.asdict(self._settings),
                "pairs": [list(p) for p in pairs],
                "losses": [self._losses.get(p) for p in pairs],
                "initial_losses": [self._initial_losses.get(p) for p in pairs],
                "training_seconds": [self._seconds.get(p) for p in pairs]}
        arrays = {"shifts": np.stack([self._shifts[p] for p in pairs]).astype(np.float32),
                  "meta": np.array(json.dumps(meta))}
        if all(p in self._dbm for p in pairs):
            arrays["dbm"] = np.stack([self._dbm[p] for p in pairs]).astype(np.float32)
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path, encoder, decoder=None) -> "GLAMCLUE":
        """Reads an explainer written by :meth:`save`.

        Args:
          path: the file written by :meth:`save`.
          encoder: as :class:`GLAMCLUE` (the models are not in the file).
          decoder: as :class:`GLAMCLUE`.

        Returns:
          A :class:`GLAMCLUE` with the saved settings and shifts (bit for bit).

        Raises:
          ValueError naming ``path``: not a file of this format, or NaN/inf shifts. OSError:
          the file cannot be read. TypeError / ValueError: as :class:`GLAMCLUE`.
        """
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            meta = json.loads(str(arrays["meta"]))
        except (KeyError, ValueError) as e:
            raise ValueError(f"path: {path!r} is not a GLAM-CLUE file written by save() ({e})") \
                from e
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ValueError(f"path: expected a file of format {FORMAT!r}, received "
                             f"{meta.get('format') if isinstance(meta, dict) else meta!r}")
        shifts = arrays["shifts"]
        pairs = [(_label(a, "path"), _label(b, "path")) for a, b in meta["pairs"]]
        if shifts.ndim != 2 or shifts.shape[0] != len(pairs) or not np.all(np.isfinite(shifts)):
            raise ValueError(f"path: expected {len(pairs)} finite shifts, received an array of "
                             f"shape {shifts.shape}")
        out = cls(encoder, decoder, GLAMSettings(**meta["settings"]))
        out._shifts = {p: shifts[k].copy() for k, p in enumerate(pairs)}
        if "dbm" in arrays:
            out._dbm = {p: arrays["dbm"][k].copy() for k, p in enumerate(pairs)}
        for name, target in (("losses", out._losses), ("initial_losses", out._initial_losses),
                             ("training_seconds", out._seconds)):
            for p, value in zip(pairs, meta.get(name, [])):
                if value is not None:
                    target[p] = float(value)
        return out


def _decode(decoder, z, x):
    """ψ(z) in one :func:`tfpath.generative.search.decode` call, checked against x's shape."""
    decoded = search.decode(decoder, z)
    if decoded.shape[1:] != x.shape[1:]:
        raise ValueError(f"decoder: its output shape {decoded.shape[1:]} differs from the "
                         f"inputs' shape {x.shape[1:]}")
    return decoded


# ----------------------------------------------------------------------------- baselines
def _targets(x, groups, target_groups):
    g = _labels(groups, x.shape[0], "groups")
    t = g if target_groups is None else _labels(target_groups, x.shape[0], "target_groups")
    return g, t


def _certain_rows(groups_certain, group):
    rows = _members(groups_certain, group)
    if not rows.any():
        raise ValueError(f"groups_certain: group {group!r} has no certain members")
    return rows


def _uncertain_rows(groups_uncertain, group):
    rows = _members(groups_uncertain, group)
    if not rows.any():
        raise ValueError(f"groups_uncertain: group {group!r} has no uncertain members")
    return rows


def _pair_rows(g, t):
    """``{(source, target): rows of the batch}`` in first-seen order."""
    out: Dict[Pair, List[int]] = {}
    for k, key in enumerate(zip(g.tolist(), t.tolist())):
        out.setdefault(key, []).append(k)
    return {k: np.array(v) for k, v in out.items()}


def _dbm_arguments(x, groups, x_uncertain, groups_uncertain, x_certain, groups_certain,
                   target_groups):
    """The checked arguments of the difference-of-means baselines."""
    x = _inputs(x, "x")
    x_u = _inputs(x_uncertain, "x_uncertain")
    x_c = _inputs(x_certain, "x_certain")
    _same_shape(x_u, "x_uncertain", x, "x")
    _same_shape(x_c, "x_certain", x, "x")
    g_u = _labels(groups_uncertain, x_u.shape[0], "groups_uncertain")
    g_c = _labels(groups_certain, x_c.shape[0], "groups_certain")
    g, t = _targets(x, groups, target_groups)
    return x, x_u, g_u, x_c, g_c, g, t


def input_dbm(x, groups, x_uncertain, groups_uncertain, x_certain, groups_certain,
              encoder=None, decoder=None, *, target_groups=None, bounds=(0.0, 1.0),
              reconstruct: bool = True) -> np.ndarray:
    """Input-space difference between means (Table 2's "input DBM"), reconstructed.

    ``x + (mean X_cert_t − mean X_unc_g)``, clipped to ``bounds``, then ψ(encode(·)) (the
    paper: "reconstructed"); ``reconstruct=False`` returns the clipped point.

    Args:
      x: the inputs to explain ``[B, ...]``.
      groups: the group g of each input ``[B]`` (or one label).
      x_uncertain, groups_uncertain: the uncertain training points and their groups.
      x_certain, groups_certain: the certain training points and their groups.
      encoder: as :class:`GLAMCLUE` (needed when ``reconstruct``).
      decoder: ψ; None takes ``encoder.decoder``.
      target_groups: the certain group t of each input; None: its own group.
      bounds: ``(low, high)`` of the inputs, or None (no clipping).
      reconstruct: return ψ(encode(·)) of the shifted input (True) or the input itself.

    Returns:
      float32 ``[B, ...]``.

    Raises:
      TypeError / ValueError naming the argument: non-float or non-finite arrays, different row
      shapes, label counts that differ from the rows, a group without uncertain
      (``groups_uncertain``) or certain (``groups_certain``) members, bad ``bounds``, no
      encoder or decoder when ``reconstruct`` (``encoder`` / ``decoder``).
    """
    x, x_u, g_u, x_c, g_c, g, t = _dbm_arguments(x, groups, x_uncertain, groups_uncertain,
                                                 x_certain, groups_certain, target_groups)
    if bounds is not None:
        bounds = validation.check_range(bounds, "bounds")
    reconstruct = validation.check_bool(reconstruct, "reconstruct")
    if reconstruct:
        if encoder is None:
            raise ValueError("encoder: input_dbm reconstructs its output through the "
                             "autoencoder; pass encoder= (or reconstruct=False)")
        encoder, decoder = _encoder(encoder), _decoder(decoder, encoder)
    out = np.empty_like(x)
    for (source, target), rows in _pair_rows(g, t).items():
        delta = _difference_of_means(x_c[_certain_rows(g_c, target)],
                                     x_u[_uncertain_rows(g_u, source)])
        out[rows] = x[rows] + delta
    if bounds is not None:
        out = np.clip(out, bounds[0], bounds[1])
    if not reconstruct:
        return out
    return _decode(decoder, fiducial.encode_mean(encoder, out), x)


def latent_dbm(x, groups, x_uncertain, groups_uncertain, x_certain, groups_certain, encoder,
               decoder=None, *, target_groups=None) -> np.ndarray:
    """Latent difference between means (Table 2's "latent DBM"): GLAM-CLUE at its start.

    ``ψ(encode(x) + Δz)`` with ``Δz = mean(encode(X_cert_t)) − mean(encode(X_unc_g))``: equal
    to ``GLAMCLUE(encoder, decoder, GLAMSettings(steps=0)).fit(...).explain(x, groups).x``.

    Args:
      x: the inputs to explain ``[B, ...]``.
      groups: the group g of each input ``[B]`` (or one label).
      x_uncertain, groups_uncertain: the uncertain training points and their groups.
      x_certain, groups_certain: the certain training points and their groups.
      encoder: as :class:`GLAMCLUE`.
      decoder: ψ; None takes ``encoder.decoder``.
      target_groups: the certain group t of each input; None: its own group.

    Returns:
      float32 ``[B, ...]``.

    Raises:
      TypeError / ValueError naming the argument: as :func:`input_dbm`, and an encoder
      returning non-finite latents (``encoder``) or a decoder of another output shape
      (``decoder``).
    """
    x, x_u, g_u, x_c, g_c, g, t = _dbm_arguments(x, groups, x_uncertain, groups_uncertain,
                                                 x_certain, groups_certain, target_groups)
    encoder = _encoder(encoder)
    decoder = _decoder(decoder, encoder)
    groups_of = _pair_rows(g, t)
    masks = {p: (_uncertain_rows(g_u, p[0]), _certain_rows(g_c, p[1])) for p in groups_of}
    z_u = fiducial.encode_mean(encoder, x_u)
    z_c = fiducial.encode_mean(encoder, x_c)
    z = fiducial.encode_mean(encoder, x)
    shift = np.empty_like(z)
    for pair, rows in groups_of.items():
        unc, cert = masks[pair]
        shift[rows] = _difference_of_means(z_c[cert], z_u[unc])
    return _decode(decoder, z + shift, x)


def input_nn(x, groups, x_certain, groups_certain, *, target_groups=None,
             chunk_size: int = 1024) -> np.ndarray:
    """The nearest certain training point in input space (Table 2's "input NN").

    The ℓ2-nearest row of ``x_certain`` among the members of each input's target group, returned
    raw (not reconstructed).

    Args:
      x: the inputs to explain ``[B, ...]``.
      groups: the group of each input ``[B]`` (or one label).
      x_certain, groups_certain: the certain training points and their groups.
      target_groups: the certain group to search for each input; None: its own group.
      chunk_size: certain rows per block of the search.

    Returns:
      float32 ``[B, ...]``: rows of ``x_certain``.

    Raises:
      TypeError / ValueError naming the argument: non-float or non-finite arrays, different row
      shapes (``x_certain``), label counts that differ from the rows, a group without certain
      members (``groups_certain``).
    """
    x = _inputs(x, "x")
    x_c = _inputs(x_certain, "x_certain")
    _same_shape(x_c, "x_certain", x, "x")
    g_c = _labels(groups_certain, x_c.shape[0], "groups_certain")
    _, t = _targets(x, groups, target_groups)
    return x_c[_nearest_in_groups(x, x_c, t, g_c, chunk_size)]


def latent_nn(x, groups, x_certain, groups_certain, encoder, *, target_groups=None,
              chunk_size: int = 1024) -> np.ndarray:
    """The certain training point nearest in latent space (Table 2's "latent NN").

    The row of ``x_certain`` (raw) whose encoder mean is ℓ2-nearest to ``encode(x)``, among the
    members of each input's target group.

    Args:
      x: the inputs to explain ``[B, ...]``.
      groups: the group of each input ``[B]`` (or one label).
      x_certain, groups_certain: the certain training points and their groups.
      encoder: as :class:`GLAMCLUE`.
      target_groups: the certain group to search for each input; None: its own group.
      chunk_size: certain rows per block of the search.

    Returns:
      float32 ``[B, ...]``: rows of ``x_certain``.

    Raises:
      TypeError / ValueError naming the argument: as :func:`input_nn`, and an encoder returning
      non-finite latents (``encoder``).
    """
    x = _inputs(x, "x")
    x_c = _inputs(x_certain, "x_certain")
    _same_shape(x_c, "x_certain", x, "x")
    g_c = _labels(groups_certain, x_c.shape[0], "groups_certain")
    _, t = _targets(x, groups, target_groups)
    for target in dict.fromkeys(t.tolist()):
        _certain_rows(g_c, target)
    encoder = _encoder(encoder)
    z = fiducial.encode_mean(encoder, x)
    z_c = fiducial.encode_mean(encoder, x_c)
    return x_c[_nearest_in_groups(z, z_c, t, g_c, chunk_size)]


def _nearest_in_groups(queries, references, targets, groups_references, chunk_size):
    """Index into ``references`` of each query's nearest member of its target group."""
    chunk_size = validation.check_positive_int(chunk_size, "chunk_size")
    index = np.empty(queries.shape[0], np.int64)
    for target in dict.fromkeys(targets.tolist()):
        members = np.flatnonzero(_certain_rows(groups_references, target))
        rows = np.flatnonzero(_labelled(targets, target))
        found, _ = nearest_neighbours(queries[rows], references[members], chunk_size)
        index[rows] = members[found]
    return index


# ----------------------------------------------------------------------------- certain / uncertain
def split_by_uncertainty(entropy, certain_quantile: float = 0.2,
                         uncertain_quantile: float = 0.8, *,
                         certain_below: Optional[float] = None,
                         uncertain_above: Optional[float] = None):
    """Certain and uncertain points from their predictive entropies.

    Certain: ``entropy <= t_c``; uncertain: ``entropy >= t_u``, with ``t_c`` the
    ``certain_quantile`` and ``t_u`` the ``uncertain_quantile`` of the entropies (the paper states
    no thresholds: the lowest and highest 20 % are a library default), or the absolute
    thresholds ``certain_below`` / ``uncertain_above`` when given (each replaces its quantile).

    Args:
      entropy: ``[n]`` predictive entropies (e.g.
        ``tfpath.uncertainty.measures.predictive_uncertainty(model, x).total``).
      certain_quantile: quantile of the certain threshold, in [0, 1].
      uncertain_quantile: quantile of the uncertain threshold, in [0, 1].
      certain_below: an absolute certain threshold, or None.
      uncertain_above: an absolute uncertain threshold, or None.

    Returns:
      ``(certain, uncertain)``: two disjoint boolean arrays ``[n]``.

    Raises:
      TypeError / ValueError naming the argument: entropies that are not a finite 1-D array,
      quantiles outside [0, 1], non-finite thresholds, a certain threshold that is not below
      the uncertain one (the sets would overlap).
    """
    h = validation.check_real_array(entropy, "entropy")
    if h.ndim != 1:
        raise ValueError(f"entropy: expected one entropy per point, shape [n], received "
                         f"{h.shape}")
    certain_quantile = validation.check_fraction(certain_quantile, "certain_quantile")
    uncertain_quantile = validation.check_fraction(uncertain_quantile, "uncertain_quantile")
    for name, value in (("certain_below", certain_below), ("uncertain_above", uncertain_above)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)
                                  or not np.isfinite(value)):
            raise ValueError(f"{name}: expected a finite number or None, received {value!r}")
    low = float(certain_below) if certain_below is not None else \
        float(np.quantile(h, certain_quantile))
    high = float(uncertain_above) if uncertain_above is not None else \
        float(np.quantile(h, uncertain_quantile))
    if not low < high:
        names = ("certain_below" if certain_below is not None else "certain_quantile") + ", " + \
            ("uncertain_above" if uncertain_above is not None else "uncertain_quantile")
        raise ValueError(f"{names}: expected the certain threshold below the uncertain one, "
                         f"received {low:g} and {high:g} (the sets would overlap)")
    return h <= low, h >= high


__all__ = ["GLAMSettings", "GLAMResult", "GLAMCLUE", "translation_loss", "nearest_neighbours",
           "input_dbm", "latent_dbm", "input_nn", "latent_nn", "split_by_uncertainty"]

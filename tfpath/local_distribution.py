"""Local distributions of references for LPI (Yang, Akhtar, Wen and Mian, "Local Path
Integration for Attribution", AAAI 2023, Sec. 3 "Identifying local distributions").

Offline stage, :meth:`LocalDistribution.fit`:

1. the model's **logits** ``L [N, C]`` on the training inputs (the paper clusters logits "due to
   their larger variability");
2. K-means with ``n`` clusters on L: the neighbourhoods, with centroids μ_i;
3. in each neighbourhood, K-means with ``m`` clusters on its logits; in each sub-cluster j, the
   training sample nearest to the sub-centroid is reference x'_{i,j}, and its density is the
   sub-cluster's share of the neighbourhood, p_{i,j} = |sub-cluster j| / |neighbourhood i|.

Online, an input is assigned to the neighbourhood whose centroid is nearest to its logits
(the authors' code; the paper does not say) and LPI integrates from that neighbourhood's
references, weighted by their densities (:class:`tfpath.LPI`).

Departures from the authors' code (ypeiyu/LPI), each a bug there:

* every neighbourhood keeps its own densities (the code writes all of them to one file and
  reuses the last neighbourhood's for every neighbourhood when n > 1);
* the references are the training inputs at the representatives' indices (the code renders
  image t + 200, an off-by-one batch offset, and on shuffled loaders an unrelated image);
* a representative is chosen *within its sub-cluster*, so the m references of a neighbourhood
  are distinct and ordered like their densities (the code picks the nearest member of the
  whole neighbourhood, which can repeat, leaving fewer references than densities). A
  neighbourhood with fewer than m distinct logit vectors keeps that many references.

References are stored as float arrays (no uint8 PNG round trip) and saved to one ``.npz``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfpath.core import keras_utils, memo, validation
from tfpath.core.progress import Progress
from tfpath.protocols import BaselineSet, ChosenBaselines

FORMAT_VERSION = 1


def logits_of(model):
    """``fn(x [n, ...]) -> logits [n, C]`` (NumPy) for a model, a ModelFunction or a callable.

    Keras models ending in a softmax give their pre-softmax logits
    (:func:`tfpath.core.keras_utils.logits_function`); a :class:`tfpath.ModelFunction` gives its
    logits (its model's pre-softmax logits if it explains probabilities). The compiled function
    is built once per model.

    Raises:
      TypeError: ``model`` is not callable. ValueError: a model whose logits cannot be read.
    """
    return memo.memoized(model, "local_distribution", "logits", lambda: _logits_of(model))


def _logits_of(model):
    from tfpath.core.model_function import ModelFunction
    if isinstance(model, ModelFunction):
        if model.output_kind == "logits":
            fn = model.call_model
        elif keras_utils.is_keras_model(model.model) and keras_utils.ends_in_softmax(model.model):
            fn = keras_utils.logits_function(model.model)
        else:
            raise ValueError("model: LPI clusters logits, but this ModelFunction's model outputs "
                             f"{model.output_kind!r}; pass the model that gives logits")
    elif keras_utils.is_keras_model(model):
        fn = (keras_utils.logits_function(model) if keras_utils.ends_in_softmax(model)
              else (lambda x: model(x, training=False)))
    elif callable(model):
        fn = model
    else:
        raise TypeError(f"model: expected a Keras model, a tfpath.ModelFunction or a callable "
                        f"returning logits, received {type(model).__name__}")
    compiled = tf.function(lambda x: tf.convert_to_tensor(fn(x)), reduce_retracing=True)

    def logits(x):
        out = compiled(tf.convert_to_tensor(x, tf.float32)).numpy()
        if out.ndim != 2:
            raise ValueError(f"model: LPI needs logits of shape [n, classes], received "
                             f"{out.shape}")
        return out.astype(np.float64)
    return logits


def _batched(fn, x, batch_size):
    return np.concatenate([fn(x[s:s + batch_size]) for s in range(0, x.shape[0], batch_size)])


class LocalDistribution:
    """Neighbourhoods of the training logits, with m references and densities each.

    Attributes:
      centroids: float64 ``[n, C]``, the neighbourhoods' centroids in logit space.
      references: float32 ``[R, ...]``, the references of all neighbourhoods, concatenated.
      densities: float64 ``[R]``; each neighbourhood's densities sum to 1.
      offsets: int ``[n + 1]``: neighbourhood i owns ``references[offsets[i]:offsets[i+1]]``.
      reference_indices: int ``[R]``, the references' indices in the training set.
      n_references: the m that was asked for (a neighbourhood may hold fewer, see the module).
      seed: the K-means seed.
      model: the model used to fit (not saved; :meth:`load` takes it as an argument).
      fit_seconds: the time :meth:`fit` took (None after :meth:`load`).
    """

    def __init__(self, centroids, references, densities, offsets, reference_indices,
                 n_references, seed=None, model=None):
        self.centroids = np.asarray(centroids, np.float64)
        self.references = np.asarray(references, np.float32)
        self.densities = np.asarray(densities, np.float64)
        self.offsets = np.asarray(offsets, np.int64)
        self.reference_indices = np.asarray(reference_indices, np.int64)
        self.n_references = int(n_references)
        self.seed = seed
        self.model = model
        self.fit_seconds = None
        self._check()
        self._logits = None
        self._candidates = None

    def _check(self):
        n = self.centroids.shape[0]
        r = self.references.shape[0]
        if (self.centroids.ndim != 2 or self.offsets.shape != (n + 1,) or self.offsets[0] != 0
                or self.offsets[-1] != r or np.any(np.diff(self.offsets) < 1)
                or self.densities.shape != (r,) or self.reference_indices.shape != (r,)):
            raise ValueError("distribution: inconsistent arrays (centroids, references, "
                             "densities, offsets); was the file written by tfpath?")
        sums = np.add.reduceat(self.densities, self.offsets[:-1])
        if not np.allclose(sums, 1.0):
            raise ValueError("distribution: the densities of a neighbourhood do not sum to 1")

    # ------------------------------------------------------------------ offline stage
    @classmethod
    def fit(cls, model, x_train, n_neighbourhoods, n_references=20, seed=0, batch_size=256,
            n_init=3, max_iter=600, progress=None) -> "LocalDistribution":
        """Fits the neighbourhoods, references and densities (the paper's offline stage).

        Args:
          model: the classifier (Keras model, :class:`tfpath.ModelFunction` or callable) whose
            logits are clustered; kept for assigning inputs later.
          x_train: training inputs ``[N, ...]`` (float, the model's input scaling).
          n_neighbourhoods: n >= 1 first-level clusters (the paper: 9 for VGG-16, 7 for
            ResNet-34, chosen empirically; the number of classes is a reasonable start).
          n_references: m >= 1 references per neighbourhood (the paper: 20).
          seed: K-means ``random_state`` (the authors' code sets none); fits are deterministic
            for a given seed.
          batch_size: inputs per model call when computing logits.
          n_init, max_iter: scikit-learn K-means settings (the authors': 3 and 600).
          progress: a progress bar on stderr: None (default) on a terminal only, True, False.

        Returns:
          A :class:`LocalDistribution`.

        Raises:
          ValueError / TypeError naming the argument: bad ``x_train``, ``n_neighbourhoods``
            larger than the training set or < 1, ``n_references`` < 1, a model that gives no
            logits.
        """
        from sklearn.cluster import KMeans
        start = time.perf_counter()
        x = validation.check_array(x_train, "x_train", min_rank=2)
        n = validation.check_positive_int(n_neighbourhoods, "n_neighbourhoods")
        m = validation.check_positive_int(n_references, "n_references")
        batch_size = validation.check_positive_int(batch_size, "batch_size")
        if n > x.shape[0]:
            raise ValueError(f"n_neighbourhoods: {n} neighbourhoods need at least {n} training "
                             f"samples; x_train holds {x.shape[0]}")
        bar = Progress(n + 1, "LocalDistribution.fit", enabled=progress)
        logits = _batched(logits_of(model), x, batch_size)
        bar.update(note="logits")
        top = KMeans(n_clusters=n, n_init=n_init, max_iter=max_iter, random_state=seed).fit(logits)
        densities, offsets, indices = [], [0], []
        for i in range(n):
            members = np.flatnonzero(top.labels_ == i)
            sub_logits = logits[members]
            m_i = min(m, np.unique(sub_logits, axis=0).shape[0])
            sub = KMeans(n_clusters=m_i, n_init=n_init, max_iter=max_iter,
                         random_state=seed).fit(sub_logits)
            for j in range(m_i):
                in_j = np.flatnonzero(sub.labels_ == j)
                if in_j.size == 0:                # an empty sub-cluster holds no reference
                    continue
                dist = np.linalg.norm(sub_logits[in_j] - sub.cluster_centers_[j], axis=1)
                indices.append(int(members[in_j[np.argmin(dist)]]))
                densities.append(in_j.size / members.size)
            offsets.append(len(indices))
            bar.update(note=f"neighbourhood {i + 1}/{n}")
        bar.close()
        dist = cls(top.cluster_centers_, x[np.array(indices)], densities, offsets, indices, m,
                   seed, model)
        dist.fit_seconds = time.perf_counter() - start
        return dist

    # ------------------------------------------------------------------ online stage
    @property
    def n_neighbourhoods(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def num_classes(self) -> int:
        """C, the logit dimension the distribution was fitted on."""
        return int(self.centroids.shape[1])

    def neighbourhood(self, i: int):
        """``(references [m_i, ...], densities [m_i])`` of neighbourhood ``i``."""
        s = slice(self.offsets[i], self.offsets[i + 1])
        return self.references[s], self.densities[s]

    def assign(self, x, model=None, logits=None) -> np.ndarray:
        """The neighbourhood of each input: the nearest centroid to its logits.

        Args:
          x: inputs ``[B, ...]`` (the references' shape).
          model: the model whose logits are used (default: the fitted one).
          logits: the inputs' logits ``[B, C]`` if already computed (then ``model`` is not
            called).

        Returns:
          int ``[B]``.

        Raises:
          ValueError: no model; inputs of another shape; logits of another dimension than the
            distribution was fitted for.
        """
        model = self.model if model is None else model
        if model is None and logits is None:
            raise ValueError("model: this LocalDistribution was loaded without a model; pass "
                             "the model that gives the logits (LocalDistribution.load(path, "
                             "model=...) or LPI(distribution, model=...))")
        self.check_assignable(x.shape)
        if logits is None:
            logits = _batched(logits_of(model), np.asarray(x, np.float32), 256)
        logits = np.asarray(logits, np.float64)
        self.check_assignable(x.shape, logits.shape[1])
        return np.argmin(_squared_distances(logits, self.centroids), axis=1)

    def check_assignable(self, input_shape, n_logits=None):
        """Checks that inputs and a model's logits can be assigned to these neighbourhoods.

        Args:
          input_shape: the inputs' shape ``[B, ...]``.
          n_logits: the model's number of logits (None: not checked).

        Raises:
          ValueError: inputs of another shape than the references; another logit count than
            the distribution was fitted for.
        """
        if tuple(input_shape[1:]) != self.references.shape[1:]:
            raise ValueError(f"x_value: the distribution's references have shape "
                             f"{self.references.shape[1:]}, received inputs of shape "
                             f"{tuple(input_shape[1:])}")
        if n_logits is not None and n_logits != self.num_classes:
            raise ValueError(f"distribution: fitted for a model with {self.num_classes} logits, "
                             f"but the model gives {n_logits}; fit it on this model")

    def candidates(self) -> ChosenBaselines:
        """The weighted references of every neighbourhood, chosen per input by the nearest
        centroid inside the engine's compiled call (:class:`NearestCentroid`): the same
        baselines as :meth:`baseline_set` (``"weighted"``) without a model call before it.

        Returns:
          :class:`~tfpath.protocols.ChosenBaselines` with one candidate set per neighbourhood,
          ``M = max_i m_i`` (a neighbourhood with fewer references has weight-0 slots). It is
          built once from the fitted arrays (again if one of them is replaced), so that the
          engine converts it to tensors once.
        """
        arrays = (self.references, self.densities, self.offsets, self.centroids)
        if self._candidates is None or any(a is not b for a, b in
                                           zip(self._candidates[0], arrays)):
            self._candidates = (arrays, self._build_candidates())
        return self._candidates[1]

    def _build_candidates(self) -> ChosenBaselines:
        counts = np.diff(self.offsets)
        slots = np.arange(int(counts.max()))
        used = slots[None, :] < counts[:, None]                             # [n, M]
        index = np.where(used, self.offsets[:-1, None] + slots[None, :], self.offsets[:-1, None])
        weights = np.where(used, self.densities[index], 0.0)
        return ChosenBaselines(self.references, index, weights, NearestCentroid(),
                               (self.centroids,))

    def baseline_set(self, x, model=None, mode="weighted", rng=None,
                     logits=None) -> BaselineSet:
        """The LPI baselines of ``x``: its neighbourhood's references and densities.

        Args:
          x: inputs ``[B, ...]``.
          model, logits: as :meth:`assign`.
          mode: ``"weighted"`` (all references, weights p_j) or ``"sampled"`` (m draws from
            Categorical(p), equal weights).
          rng: a NumPy generator for ``"sampled"``.

        Returns:
          :class:`~tfpath.protocols.BaselineSet` with ``M = max_i m_i``; a neighbourhood with
          fewer references has weight-0 rows (skipped by the engine).

        Raises:
          ValueError: as :meth:`assign`; unknown ``mode``.
        """
        if mode not in ("weighted", "sampled"):
            raise ValueError(f"references: expected 'weighted' or 'sampled', received {mode!r}")
        hood = self.assign(x, model, logits)
        if mode == "weighted":
            table = self.candidates()
            return BaselineSet(self.references, table.index[hood], table.weights[hood])
        counts = np.diff(self.offsets)
        width = self.n_references
        index = np.zeros((x.shape[0], width), np.int64)
        rng = rng or np.random.default_rng()
        for b, i in enumerate(hood):
            start, m_i = self.offsets[i], counts[i]
            index[b] = start + rng.choice(m_i, size=width, p=self.densities[start:start + m_i])
        return BaselineSet(self.references, index, np.full(index.shape, 1.0 / width))

    # ------------------------------------------------------------------ files
    def save(self, path) -> Path:
        """Writes the distribution to ``path`` (``.npz``; the model is not saved).

        Returns:
          The path written.
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(path.suffix + ".npz") if path.suffix else \
                path.with_suffix(".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, format_version=FORMAT_VERSION, centroids=self.centroids,
                 references=self.references, densities=self.densities, offsets=self.offsets,
                 reference_indices=self.reference_indices, n_references=self.n_references,
                 seed=-1 if self.seed is None else self.seed)
        return path

    @classmethod
    def load(cls, path, model=None) -> "LocalDistribution":
        """Reads a distribution written by :meth:`save`.

        Args:
          path: the ``.npz`` file.
          model: the model that gives the logits (needed to assign inputs).

        Raises:
          FileNotFoundError: no such file. ValueError: not a tfpath distribution file.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"path: no file {path}")
        try:
            with np.load(path, allow_pickle=False) as f:
                data = {k: f[k] for k in f.files}
        except (ValueError, OSError) as e:
            raise ValueError(f"path: cannot read {path} as a LocalDistribution ({e})") from None
        needed = {"format_version", "centroids", "references", "densities", "offsets",
                  "reference_indices", "n_references", "seed"}
        if not needed <= set(data):
            raise ValueError(f"path: {path} is not a LocalDistribution file (missing "
                             f"{sorted(needed - set(data))})")
        if int(data["format_version"]) != FORMAT_VERSION:
            raise ValueError(f"path: {path} has format version {int(data['format_version'])}; "
                             f"this tfpath reads version {FORMAT_VERSION}")
        seed = int(data["seed"])
        return cls(data["centroids"], data["references"], data["densities"], data["offsets"],
                   data["reference_indices"], int(data["n_references"]),
                   None if seed < 0 else seed, model)

    def __repr__(self):
        return (f"LocalDistribution(n_neighbourhoods={self.n_neighbourhoods}, "
                f"references={self.references.shape[0]}, classes={self.num_classes})")


def _squared_distances(logits, centroids):
    """``[B, n]`` squared Euclidean distances, float64 (as :class:`NearestCentroid` computes
    them in the graph, so both choose the same neighbourhood)."""
    return np.sum(np.square(logits[:, None, :] - centroids[None]), axis=2)


@dataclass(frozen=True)
class NearestCentroid:
    """The neighbourhood of each input inside the compiled loop: the centroid nearest to its
    logits (the model's outputs), by squared Euclidean distance in float64, as
    :meth:`LocalDistribution.assign` does on the host (a
    :class:`~tfpath.protocols.BaselineChoice`)."""

    def choose(self, outputs, centroids):
        """int32 ``[B]``: the nearest of ``centroids [n, C]`` to each row of ``outputs [B, C]``."""
        logits = tf.cast(outputs, tf.float64)
        distances = tf.reduce_sum(tf.square(logits[:, None, :] - centroids[None]), axis=2)
        return tf.argmin(distances, axis=1, output_type=tf.int32)

"""Path attributions of text models, in embedding space, summed per token.

Token ids are discrete, so a path method cannot move along them. As in Zhuo and Ge, "IG²:
Integrated Gradient on Iterative Gradient Path for Feature Attribution" (IEEE TPAMI 2024, the
TREC question-classification experiment with a Kim-style TextCNN), the model is split at its
embedding layer, every path runs in embedding space, and a token's attribution is the sum of
its embedding's attribution over the embedding dimensions:

* :class:`TextModel` splits a Keras 3 model into ``embed`` (tokens ``[n, L]`` → embeddings
  ``[n, L, D]``, the embedding layer's own lookup) and ``head`` (a Keras model
  ``[n, L, D]`` → the model's outputs, sharing the model's layers and weights), and serves
  :class:`tfpath.ModelFunction` objects on the head;
* :class:`TokenAttribution` wraps any tfpath method (Integrated Gradients, Guided IG,
  Expected Gradients, LPI, AGI, ...) with PAIR's face: ``GetMask(tokens [L], text_model)``
  returns one attribution per token, ``[L]``.

With the default zero baseline (the zero embedding, the IG² paper's TREC baseline) the sum of
the token attributions of IG is ``F(x) − head(0)``; ``x_baseline=np.full(L, pad_token)``
starts the path at the pad token's embedding instead (then ``F(baseline)`` is the model's
output on an all-pad sequence).
"""
from __future__ import annotations

import dataclasses
import inspect
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

from tfpath import targets as targets_lib
from tfpath.core import keras_utils, memo, validation
from tfpath.core import representation as representation_lib
from tfpath.core.model_function import ModelFunction

REDUCTIONS = ("sum", "l1", "l2")
CHECK_ROWS = 4            # random token rows on which the split is verified at construction
CHECK_LENGTH = 16         # their length when the model accepts any length
# fields of tfpath.baselines objects that hold inputs (token ids, under TokenAttribution)
BASELINE_TOKEN_FIELDS = ("references", "points", "value")


# ------------------------------------------------------------------------------ the split
def _keras():
    import keras
    return keras


def _is_sequential(model) -> bool:
    return isinstance(model, _keras().Sequential)


def _find_embedding(model, embedding_layer):
    """The model's Embedding layer: the one named ``embedding_layer``, or the unique one."""
    keras = _keras()
    layers = list(model.layers)
    if embedding_layer is None:
        found = [layer for layer in layers if isinstance(layer, keras.layers.Embedding)]
        if not found:
            raise ValueError(
                f"embedding_layer: the model {model.name!r} has no keras.layers.Embedding layer "
                f"among its layers ({[layer.name for layer in layers]}; nested models are not "
                "searched); TextModel needs a model whose input is token ids fed to an Embedding")
        if len(found) > 1:
            raise ValueError(
                f"embedding_layer: the model has {len(found)} Embedding layers "
                f"({[layer.name for layer in found]}); pass the name of the one that reads the "
                f"tokens, e.g. TextModel(model, embedding_layer={found[0].name!r})")
        return found[0]
    if isinstance(embedding_layer, keras.layers.Layer):
        layer = embedding_layer
        if not any(layer is other for other in layers):
            raise ValueError(f"embedding_layer: the layer {layer.name!r} is not a layer of the "
                             f"model {model.name!r}")
    elif isinstance(embedding_layer, str):
        try:
            layer = model.get_layer(embedding_layer)
        except ValueError:
            raise ValueError(f"embedding_layer: no layer named {embedding_layer!r} in the model; "
                             f"layers are {[layer.name for layer in layers]}") from None
    else:
        raise TypeError(f"embedding_layer: expected a layer name (str), a layer or None, "
                        f"received {type(embedding_layer).__name__}")
    if not isinstance(layer, keras.layers.Embedding):
        raise ValueError(f"embedding_layer: the layer {layer.name!r} is a "
                         f"{type(layer).__name__}, not a keras.layers.Embedding")
    return layer


def _embedded_tensor(model, layer):
    """The embedding's output tensor in the model's graph, checked: the layer reads the model's
    input directly (``layer.input is model.inputs[0]``)."""
    try:
        reads, embedded = layer.input, layer.output
    except (AttributeError, ValueError):
        raise ValueError(f"embedding_layer: {layer.name!r} has no single input and output "
                         "(is it called several times?); TextModel splits a model whose "
                         "embedding is applied once, to its token input") from None
    if reads is not model.inputs[0]:
        raise ValueError(
            f"embedding_layer: {layer.name!r} does not read the model's input directly; "
            "TextModel needs the token ids fed straight to the embedding, so that "
            "embed(tokens) is the model's own lookup")
    return embedded


def sub_model_from_embeddings(model, embedded, outputs, name=None):
    """``keras.Model(inputs=embedded, outputs=outputs)``: a Keras functional model from the
    embedding's output tensor to tensors of ``model``, sharing its layers and weights.

    Raises:
      ValueError naming ``model``: the tensors do not depend on the embeddings alone.
    """
    try:
        return _keras().Model(inputs=embedded, outputs=outputs, name=name)
    except (ValueError, AttributeError, TypeError, KeyError) as e:
        raise ValueError(
            f"model: cannot be split at its embedding layer: the layers after it do not depend "
            f"on the embeddings alone ({e}). Does the model use the token ids again after the "
            "embedding (e.g. a padding mask computed from them)? Compute such masks from the "
            "embeddings, or explain a model without them.") from None


class TextModel:
    """A Keras 3 text model split at its embedding layer: ``model(t) == head(embed(t))``.

    ``embed`` is the embedding layer's own lookup (its live weights: training the model later
    changes it too) and ``head`` the Keras model ``keras.Model(inputs=<the Embedding's output
    tensor>, outputs=model.output)`` from embeddings ``[n, L, D]`` to the model's outputs, made
    of the model's own layers (weights shared, nothing copied; Keras records the head's calls
    on the shared layers, as for any sub-model). The user's model is not changed.

    Sub-models of the head are built from the *user's* model's tensors, the embedding's output
    as input: the pre-softmax logits of :meth:`model_function` and the representation layers
    of IG² (:meth:`representation`; :class:`TokenAttribution` passes them for
    ``representation=`` names, indices and the default).

    Functional and Sequential models are supported: the embedding must read the model's
    (single) input directly and be called once (in a Sequential model, be its first layer),
    and the layers after it must depend on the embeddings alone. Subclassed models cannot be
    split (their graph is Python code): TypeError.

    ``mask_zero=True`` is refused: Keras computes that mask from the token ids, which the head
    (a function of embeddings) never sees, so the head would silently differ from the model on
    padded sequences. Build the model with ``mask_zero=False`` (then pad positions are ordinary
    positions; ``TokenAttribution(..., mask_padding=True)`` zeroes them in the maps).

    The split is verified at construction on a few random token rows (:meth:`verify`).

    Args:
      model: a built Keras 3 functional or Sequential model taking token ids ``[n, L]``
        (``L`` may be None).
      embedding_layer: the name of the Embedding layer that reads the tokens (or the layer);
        None finds the model's unique ``keras.layers.Embedding``.
      pad_token: the padding token id (default 0), used by ``mask_padding`` and documented
        baselines.

    Attributes:
      model, embedding_layer, head, pad_token, vocab_size, embedding_dim,
      sequence_length (None if the model takes any length).

    Raises:
      TypeError: ``model`` is not a Keras 3 model, or is subclassed; bad ``embedding_layer``
        type. ValueError naming ``embedding_layer``: no Embedding, several without a name, a
        name that is not an Embedding, ``mask_zero=True``, an embedding that does not read the
        model's input or is called twice; naming ``model``: unbuilt, several inputs, a head
        that cannot be cut from the model or that differs from it; naming ``pad_token``: out of
        the vocabulary.
    """

    def __init__(self, model, embedding_layer=None, pad_token: int = 0):
        keras = _keras()
        if not isinstance(model, keras.Model):
            raise TypeError(f"model: expected a Keras 3 model (functional or Sequential), "
                            f"received {type(model).__name__}")
        try:
            inputs = model.inputs
        except (AttributeError, ValueError):
            inputs = None
        if not _is_sequential(model) and model.built and not inputs:
            raise TypeError(
                f"model: {type(model).__name__} is a subclassed Keras model; TextModel splits "
                "functional and Sequential models at their embedding layer (a subclassed "
                "model's graph is Python code). Rebuild it with the functional API.")
        if not model.built or not inputs:
            raise ValueError(f"model: {model.name!r} is not built; build it first (give it a "
                             "keras.Input, or call it once on a batch of tokens)")
        if len(inputs) != 1 or len(inputs[0].shape) != 2:
            raise ValueError(f"model: expected one input of token ids [n, L], received inputs "
                             f"of shapes {[tuple(t.shape) for t in inputs]}")
        self.model = model
        self.embedding_layer = _find_embedding(model, embedding_layer)
        if getattr(self.embedding_layer, "mask_zero", False):
            raise ValueError(
                f"embedding_layer: {self.embedding_layer.name!r} has mask_zero=True; its mask "
                "comes from the token ids, which the embedding-space head never sees, so the "
                "split would not be faithful on padded sequences. Build the model with "
                "mask_zero=False (and use TokenAttribution(..., mask_padding=True) to zero the "
                "pad positions in the maps)")
        self.vocab_size = int(self.embedding_layer.input_dim)
        self.embedding_dim = int(self.embedding_layer.output_dim)
        length = inputs[0].shape[1]
        self.sequence_length: Optional[int] = None if length is None else int(length)
        if (isinstance(pad_token, bool) or not isinstance(pad_token, (int, np.integer))
                or not 0 <= pad_token < self.vocab_size):
            raise ValueError(f"pad_token: expected a token id in [0, {self.vocab_size}), "
                             f"received {pad_token!r}")
        self.pad_token = int(pad_token)
        self._embedded = _embedded_tensor(model, self.embedding_layer)
        self.head = sub_model_from_embeddings(model, self._embedded, model.outputs[0],
                                              f"{model.name}_head")
        self.verify()

    # ------------------------------------------------------------------ the two halves
    def check_tokens(self, tokens, name: str = "tokens", rank: Optional[int] = None):
        """Token ids as int32, checked: integers in ``[0, vocab_size)``, length ``L``.

        Args:
          tokens: an integer array ``[..., L]``.
          name: the argument's name in messages.
          rank: the required rank (None: >= 1).

        Returns:
          int32 ndarray.

        Raises:
          TypeError naming ``name``: not integers (floats are refused, not rounded).
          ValueError naming ``name``: another rank or length, empty, an id out of range.
        """
        arr = np.asarray(tokens)
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
            raise TypeError(f"{name}: expected integer token ids, received dtype {arr.dtype} "
                            "(floats are refused, not rounded; embeddings go to the head)")
        if (rank is not None and arr.ndim != rank) or arr.ndim < 1:
            want = f"rank {rank}" if rank is not None else "rank >= 1"
            raise ValueError(f"{name}: expected token ids of {want} ([L] for one sequence, "
                             f"[B, L] for a batch), received shape {arr.shape}")
        if arr.size == 0:
            raise ValueError(f"{name}: is empty (shape {arr.shape})")
        if self.sequence_length is not None and arr.shape[-1] != self.sequence_length:
            raise ValueError(f"{name}: expected sequences of length {self.sequence_length} (the "
                             f"model's input length), received shape {arr.shape}")
        low, high = int(arr.min()), int(arr.max())
        if low < 0 or high >= self.vocab_size:
            bad = low if low < 0 else high
            raise ValueError(f"{name}: token id {bad} is out of range; the embedding layer "
                             f"{self.embedding_layer.name!r} has a vocabulary of "
                             f"{self.vocab_size} (valid ids: 0..{self.vocab_size - 1})")
        return arr.astype(np.int32)

    def embed(self, tokens, name: str = "tokens") -> np.ndarray:
        """The embedding layer's lookup: tokens ``[..., L]`` → float32 ``[..., L, D]``.

        Raises:
          TypeError / ValueError naming ``name``: see :meth:`check_tokens`.
        """
        return self._lookup(self.check_tokens(tokens, name))

    def _lookup(self, ids):
        out = self.embedding_layer(tf.constant(ids, tf.int32))
        return np.asarray(tf.cast(out, tf.float32))

    @property
    def embedding_matrix(self) -> np.ndarray:
        """The embeddings of all ``vocab_size`` tokens, float32 ``[V, D]`` (current weights,
        through the layer's own lookup)."""
        return self._lookup(np.arange(self.vocab_size, dtype=np.int32))

    @property
    def embedding_range(self) -> Tuple[float, float]:
        """``(min, max)`` of the embedding matrix: the clip range in embedding space of the
        IG² authors' text experiments (Zhuo and Ge, IEEE TPAMI 2024), and the default
        ``value_range`` of methods that clip (AGI) under :class:`TokenAttribution`."""
        matrix = self.embedding_matrix
        return float(matrix.min()), float(matrix.max())

    def verify(self, tokens=None, rtol: float = 1e-4, atol: float = 1e-5) -> float:
        """Checks ``head(embed(tokens)) == model(tokens)`` (inference mode).

        Args:
          tokens: ``[n, L]`` token ids; None draws :data:`CHECK_ROWS` random rows (a private
            generator, some pad tokens included).
          rtol, atol: the tolerance (``np.allclose``).

        Returns:
          The largest absolute difference.

        Raises:
          ValueError naming ``model``: the outputs differ.
        """
        if tokens is None:
            rng = np.random.default_rng(0)
            length = self.sequence_length or CHECK_LENGTH
            tokens = rng.integers(0, self.vocab_size, (CHECK_ROWS, length))
            tokens[:, -max(1, length // 4):] = self.pad_token
        ids = self.check_tokens(tokens, "tokens", rank=2)
        expected = self.model(tf.constant(ids), training=False)
        got = self.head(tf.constant(self.embed(ids)), training=False)
        expected = [np.asarray(t) for t in (expected if isinstance(expected, (list, tuple))
                                            else [expected])]
        got = [np.asarray(t) for t in (got if isinstance(got, (list, tuple)) else [got])]
        diff = max(float(np.max(np.abs(e.astype(np.float64) - g))) for e, g in zip(expected, got))
        if len(expected) != len(got) or not all(
                e.shape == g.shape and np.allclose(g, e, rtol=rtol, atol=atol)
                for e, g in zip(expected, got)):
            raise ValueError(
                f"model: head(embed(tokens)) differs from model(tokens) (largest difference "
                f"{diff:.3g}), so the model cannot be split at its embedding layer "
                f"{self.embedding_layer.name!r}. Does it use the token ids after the embedding "
                "(e.g. a padding mask computed from them)?")
        return diff

    # ------------------------------------------------------------------ the model function
    def model_function(self, target="logit", **kwargs) -> ModelFunction:
        """A :class:`tfpath.ModelFunction` on the head (memoised per target and arguments).

        If the model ends in a softmax and the target needs logits (the default ``"logit"``),
        the model function differentiates the head's pre-softmax logits (from the head's own
        layers and live weights), as ``ModelFunction`` does for image classifiers.

        Args:
          target: as in :class:`tfpath.ModelFunction`.
          kwargs: ``output``, ``batch_size``, ``class_key`` (:class:`tfpath.ModelFunction`'s
            arguments). ``layer_name`` is not supported yet: the head's layers keep the user's
            model's tensors, so a convolution sub-model of the head cannot be built.

        Returns:
          A :class:`tfpath.ModelFunction` whose inputs are embeddings ``[n, L, D]``.
        """
        tkey = ("name", target.lower()) if isinstance(target, str) else ("id", id(target))
        try:
            kkey = tuple(sorted(kwargs.items()))
            hash(kkey)
        except TypeError:
            kkey = tuple(sorted((k, repr(v)) for k, v in kwargs.items()))
        entry = memo.memoized(self, "model_function", (tkey, kkey),
                              lambda: (target, self._model_function(target, kwargs)))
        return entry[1]

    def _model_function(self, target, kwargs):
        output = kwargs.get("output", "auto")
        target_obj = targets_lib.get_target(target)
        needs_logits = ("logits" in target_obj.accepted_kinds
                        and "probabilities" not in target_obj.accepted_kinds)
        if (output == "auto" and needs_logits and kwargs.get("layer_name") is None
                and keras_utils.ends_in_softmax(self.model)):
            pre, top = keras_utils.pre_softmax(self.model)
            body = sub_model_from_embeddings(self.model, self._embedded, pre)

            def logits(embeddings):
                return top(body(embeddings, training=False))
            logits.__name__ = f"{self.model.name}_head_logits"
            rest = {k: v for k, v in kwargs.items() if k != "output"}
            return ModelFunction(logits, target, output="logits", **rest)
        return ModelFunction(self.head, target, **kwargs)

    def representation(self, layer=None):
        """IG²'s representation layer of the model as a function of embeddings (memoised).

        Args:
          layer: None (the penultimate layer: the input of the logit layer), a layer name or
            index of the user's model (its output); see :mod:`tfpath.core.representation`.

        Returns:
          ``fn(embeddings [n, L, D]) -> features [n, ...]``, a callable representation for
          :class:`tfpath.IG2` on :meth:`model_function`. It runs the model's layers up to the
          representation beside the head (a second forward pass of that part).

        Raises:
          ValueError naming ``representation``: an unknown layer or index.
        """
        spec = representation_lib.as_representation(layer)

        def build():
            tensor = representation_lib.layer_tensor(self.model, spec)
            body = sub_model_from_embeddings(self.model, self._embedded, tensor)

            def features(embeddings):
                return body(embeddings, training=False)
            features.__name__ = f"{self.model.name}_{spec.describe().replace(' ', '_')}"
            return features
        key = spec.layer if not callable(spec.layer) else ("callable", id(spec.layer))
        return memo.memoized(self, "representation", key, build)

    def __repr__(self):
        return (f"TextModel({self.model.name!r}, embedding_layer={self.embedding_layer.name!r}, "
                f"vocab_size={self.vocab_size}, embedding_dim={self.embedding_dim}, "
                f"sequence_length={self.sequence_length})")


# ------------------------------------------------------------------------------ attributions
def _token_details_class(cls):
    """A dataclass subclass of ``cls`` with an ``embedding_mask`` field (cached per class); its
    ``item`` is the details class's own, which indexes every array field."""
    if getattr(cls, "_token_details", False):
        return cls
    cache = memo.cache_for(_token_details_class, "classes")
    if cls not in cache:
        sub = dataclasses.make_dataclass(
            f"Token{cls.__name__}",
            [("embedding_mask", Optional[np.ndarray], dataclasses.field(default=None))],
            bases=(cls,))
        sub.__module__ = __name__
        sub._token_details = True
        sub.__doc__ = (f"{cls.__name__} of a token attribution: ``mask`` is per token, "
                       "``embedding_mask`` the attribution in embedding space ``[..., L, D]``.")
        cache[cls] = sub
    return cache[cls]


def _with_embedding_mask(details, mask, embedding_mask):
    """A copy of ``details`` (a :class:`tfpath.PathDetails`) with the per-token ``mask`` and an
    ``embedding_mask`` field."""
    values = {f.name: getattr(details, f.name) for f in dataclasses.fields(details) if f.init}
    values.update(mask=mask, embedding_mask=embedding_mask)
    return _token_details_class(type(details))(**values)


def _is_token_array(value) -> bool:
    if not isinstance(value, (np.ndarray, list, tuple)):
        return False
    try:
        arr = np.asarray(value)
    except ValueError:               # ragged lists
        return False
    return arr.ndim >= 1 and arr.dtype != bool and np.issubdtype(arr.dtype, np.integer)


def _embed_argument(tm, value, name):
    """A token argument in embedding space: integer arrays embedded; the token-array fields
    (:data:`BASELINE_TOKEN_FIELDS`) of a baseline object embedded in a copy
    (``dataclasses.replace``); anything else unchanged."""
    if _is_token_array(value):
        return tm.embed(value, name)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: tm.embed(getattr(value, f.name), f"{name}.{f.name}")
                   for f in dataclasses.fields(value)
                   if f.name in BASELINE_TOKEN_FIELDS and f.init
                   and _is_token_array(getattr(value, f.name))}
        if changes:
            return dataclasses.replace(value, **changes)
    return value


class TokenAttribution:
    """Per-token attributions of a text model from any tfpath method, in embedding space.

    ``TokenAttribution(method).GetMask(tokens [L], text_model, call_model_args=None,
    **method_kwargs)`` embeds the tokens with ``text_model.embed``, runs ``method`` on the
    embeddings ``[L, D]`` with ``text_model.model_function(target)`` (the head), and sums the
    embedding-space attribution over the embedding dimension: ``[L]`` float32. Summing keeps
    completeness: ``Σ_t mask_t = Σ embedding_mask``, e.g. ``F(x) − F(x')`` for IG (Zhuo and Ge,
    "IG²: Integrated Gradient on Iterative Gradient Path for Feature Attribution", IEEE TPAMI
    2024, TREC experiment).

    Method arguments:

    * token arguments: ``x_baseline``, ``baselines`` and ``references`` (:data:`TOKEN_ARGUMENTS`)
      given as integer arrays of rank >= 1 are token ids and are embedded first (``[..., L]`` →
      ``[..., L, D]``); float arrays are passed unchanged (they are embeddings already). Pass
      token arrays by keyword. Baseline objects of :mod:`tfpath.baselines` whose input
      fields (:data:`BASELINE_TOKEN_FIELDS`: ``references``, ``points``, ``value``) hold
      integer arrays are copied with those fields embedded (e.g.
      ``baselines.OtherClassSamples(train_tokens, train_labels)`` as IG²'s references); their
      other fields (``labels``, ...) are unchanged.
    * ``clip`` (IG²) keeps the method's default (None, Algorithm 1); the authors' code clips
      to the embedding matrix's range: ``clip=text_model.embedding_range``.
    * ``representation`` (IG²): None (the default, the penultimate layer), a layer name or an
      index of the user's model become :meth:`TextModel.representation` (features of the
      embeddings); ``"input"`` and callables are passed unchanged.
    * baselines: the method's own default, i.e. zeros = the zero embedding (the IG² paper's
      TREC baseline); ``x_baseline=np.full(L, text_model.pad_token)`` starts at the pad
      token's embedding; ``references=train_tokens`` gives Expected Gradients over training
      sequences.
    * ``value_range``: for methods that clip to one (AGI), it defaults to
      ``text_model.embedding_range`` instead of the image range (0, 1).
    * LPI: fit its :class:`tfpath.LocalDistribution` in embedding space, i.e. on
      ``text_model.model_function()`` and ``text_model.embed(train_tokens)``.
    * Blur IG is refused: it blurs images spatially.

    Args:
      method: a tfpath method instance (``tfpath.IntegratedGradients()``, ``GuidedIG()``,
        ``ExpectedGradients()``, ``LPI(...)``, ``AGI()``, ``NoiseTunnel(...)`` for the plain
        masks, ...).
      reduce: how a token's ``D`` attributions become one number: ``"sum"`` (default; signed,
        keeps completeness), ``"l1"`` (sum of absolute values) or ``"l2"`` (Euclidean norm).
      mask_padding: if True, positions holding ``text_model.pad_token`` get 0 in the per-token
        mask (``embedding_mask`` and the convergence delta are left as computed).
      target: the target explained, as in :meth:`TextModel.model_function` (default
        ``"logit"``).

    Raises:
      TypeError naming ``method``: not a tfpath method, or Blur IG. ValueError naming
      ``reduce``: unknown reduction.
    """

    TOKEN_ARGUMENTS = ("x_baseline", "baselines", "references")

    def __init__(self, method, reduce: str = "sum", mask_padding: bool = False,
                 target="logit"):
        from tfpath.methods.blur_ig import BlurIG
        if not hasattr(method, "GetMaskBatch"):
            raise TypeError(f"method: expected a tfpath method (e.g. tfpath.IntegratedGradients()"
                            f"), received {type(method).__name__}")
        if isinstance(method, BlurIG):
            raise TypeError("method: Blur IG blurs images along their spatial axes; it has no "
                            "meaning in embedding space. Use IntegratedGradients, GuidedIG, "
                            "ExpectedGradients, LPI or AGI")
        if reduce not in REDUCTIONS:
            raise ValueError(f"reduce: expected one of {REDUCTIONS}, received {reduce!r}")
        self.method = method
        self.reduce = reduce
        self.mask_padding = validation.check_bool(mask_padding, "mask_padding")
        self.target = target

    # ------------------------------------------------------------------ PAIR face
    def GetMask(self, x_value, call_model_function, call_model_args=None, *args, **kwargs):
        """The per-token attribution of one sequence.

        Args:
          x_value: token ids ``[L]`` (integers in ``[0, vocab)``).
          call_model_function: a :class:`TextModel`.
          call_model_args: dict passed to the method, e.g. ``{"class_idx": c}``.
          args, kwargs: the wrapped method's arguments (token arguments embedded, see the
            class).

        Returns:
          float32 ``[L]``.

        Raises:
          TypeError naming ``call_model_function``: not a TextModel. TypeError / ValueError
          naming ``x_value`` (or a token argument): not integer ids, out of range, wrong shape;
          and the wrapped method's errors.
        """
        tokens = self._text_model(call_model_function).check_tokens(x_value, "x_value", rank=1)
        return self.GetMaskBatch(tokens[None], call_model_function, call_model_args,
                                 *args, **kwargs)[0]

    def GetMaskBatch(self, x_batch, call_model_function, call_model_args=None, *args,
                     **kwargs):
        """Per-token attributions of a batch ``[B, L]``, computed together.

        ``call_model_args["class_idx"]`` may be one int or one per sequence.

        Returns:
          float32 ``[B, L]``.

        Raises:
          As :meth:`GetMask`, naming ``x_batch``.
        """
        tm, tokens, emb, args, kwargs = self._arguments(x_batch, call_model_function, args,
                                                        kwargs)
        attr = self.method.GetMaskBatch(emb, tm.model_function(self.target), call_model_args,
                                        *args, **kwargs)
        return self._per_token(tm, tokens, attr)

    def GetMaskWithDetails(self, x_value, call_model_function, call_model_args=None, *args,
                           **kwargs):
        """The wrapped method's details for one sequence, with the per-token ``mask`` ``[L]``
        and ``embedding_mask`` ``[L, D]``.

        Returns:
          The method's details object (:class:`tfpath.PathDetails` for path methods; other
          fields, e.g. ``path_end``, are in embedding space), as a subclass with the extra
          attribute ``embedding_mask``.
        """
        tokens = self._text_model(call_model_function).check_tokens(x_value, "x_value", rank=1)
        return self.GetMaskBatchWithDetails(tokens[None], call_model_function, call_model_args,
                                            *args, **kwargs).item(0)

    def GetMaskBatchWithDetails(self, x_batch, call_model_function, call_model_args=None,
                                *args, **kwargs):
        """:meth:`GetMaskWithDetails` for a batch: ``mask [B, L]``, ``embedding_mask
        [B, L, D]``, the other arrays with a leading batch axis."""
        if not hasattr(self.method, "GetMaskBatchWithDetails"):
            raise TypeError(f"method: {type(self.method).__name__} reports no details; use "
                            "GetMask / GetMaskBatch")
        tm, tokens, emb, args, kwargs = self._arguments(x_batch, call_model_function, args,
                                                        kwargs)
        details = self.method.GetMaskBatchWithDetails(emb, tm.model_function(self.target),
                                                      call_model_args, *args, **kwargs)
        embedding_mask = np.asarray(details.mask, np.float32)
        return _with_embedding_mask(details, self._per_token(tm, tokens, embedding_mask),
                                    embedding_mask)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _text_model(call_model_function) -> TextModel:
        if not isinstance(call_model_function, TextModel):
            raise TypeError(
                "call_model_function: TokenAttribution needs a tfpath.TextModel (the model "
                "split at its embedding layer, e.g. tfpath.TextModel(model)), received "
                f"{type(call_model_function).__name__}")
        return call_model_function

    def _method_arguments(self):
        names = getattr(self.method, "_method_arguments", None)
        if names is not None:
            return names()
        try:
            return list(inspect.signature(self.method.GetMaskBatch).parameters)
        except (TypeError, ValueError):  # pragma: no cover - exotic callables
            return []

    def _arguments(self, x_batch, call_model_function, args, kwargs):
        tm = self._text_model(call_model_function)
        tokens = tm.check_tokens(x_batch, "x_batch", rank=2)
        if args and hasattr(self.method, "_bind"):
            kwargs = self.method._bind(args, kwargs)
            args = ()
        kwargs = dict(kwargs)
        for name in self.TOKEN_ARGUMENTS:
            if kwargs.get(name) is not None:
                kwargs[name] = _embed_argument(tm, kwargs[name], name)
        names = self._method_arguments()
        if "value_range" in names and "value_range" not in kwargs:
            kwargs["value_range"] = tm.embedding_range
        if "representation" in names:             # IG²: layers of the user's model
            rep = kwargs.get("representation")
            if rep is None or (isinstance(rep, (str, int)) and not isinstance(rep, bool)
                               and rep != representation_lib.INPUT):
                kwargs["representation"] = tm.representation(rep)
        return tm, tokens, tm.embed(tokens, "x_batch"), args, kwargs

    def _per_token(self, tm, tokens, attr):
        a = np.asarray(attr, np.float64)
        if self.reduce == "sum":
            out = a.sum(axis=-1)
        elif self.reduce == "l1":
            out = np.abs(a).sum(axis=-1)
        else:
            out = np.sqrt((a * a).sum(axis=-1))
        if self.mask_padding:
            out = np.where(tokens == tm.pad_token, 0.0, out)
        return out.astype(np.float32)

    def __repr__(self):
        return (f"TokenAttribution({type(self.method).__name__}, reduce={self.reduce!r}, "
                f"mask_padding={self.mask_padding})")

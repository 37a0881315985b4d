"""A synthetic token-classification task with ground-truth relevant tokens, and a small
Kim-style TextCNN for it.

``make_trigger_text``: each class owns a few *trigger* tokens; a sequence is random *filler*
tokens (never triggers) with one or two trigger tokens of its class at random positions,
followed by padding (token 0 is reserved as the pad token). The class is decided by the
triggers alone, so the trigger positions are the ground truth of a token attribution (the
setting of the text experiments of Zhuo and Ge, "IG²: Integrated Gradient on Iterative Gradient
Path for Feature Attribution", IEEE TPAMI 2024, with a known answer). Built offline,
deterministic given ``seed`` (a private generator).

``text_cnn``: Kim, "Convolutional Neural Networks for Sentence Classification", EMNLP 2014:
an embedding, parallel 1-D convolutions of several widths (ReLU), max-pooling over time, the
pooled features concatenated, and a dense layer (logits).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tfpath.core import seeding, validation

PAD_TOKEN = 0


@dataclass
class TriggerText:
    """Sequences of the trigger-token task.

    Attributes:
      tokens: ``[n, L]`` int32 token ids; 0 is the pad token (after each sequence's content).
      labels: ``[n]`` int64 classes.
      relevant: ``[n, L]`` bool, True at the trigger positions (the ground truth).
      lengths: ``[n]`` int64, each sequence's content length (positions ``>= length`` are pad).
      vocab: the vocabulary size V (ids ``0..V-1``).
      trigger_tokens: ``[n_classes, k]`` int64, class c's trigger ids.
      n_classes: the number of classes.
      pad_token: 0.
    """

    tokens: np.ndarray
    labels: np.ndarray
    relevant: np.ndarray
    lengths: np.ndarray
    vocab: int
    trigger_tokens: np.ndarray
    n_classes: int
    pad_token: int = PAD_TOKEN

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def filler_tokens(self) -> np.ndarray:
        """The ids that are neither pad nor a trigger."""
        return np.arange(1 + self.trigger_tokens.size, self.vocab)


def make_trigger_text(n, length=16, vocab=50, n_classes=3, seed=0, triggers_per_class=3,
                      min_length=None) -> TriggerText:
    """Generates the trigger-token task.

    Tokens ``1 .. n_classes·k`` are the triggers (class c owns ``1 + c·k .. (c+1)·k``), the
    remaining ids ``n_classes·k + 1 .. vocab − 1`` are fillers. Each sequence has a content
    length drawn uniformly in ``[min_length, length]`` (default ``min_length = length // 2``),
    holds random fillers there, then 1 or 2 (with equal probability) trigger tokens of its
    class, drawn with replacement, at distinct random content positions; the rest is pad (0).
    Labels are balanced (``n`` cycled over the classes, shuffled).

    Args:
      n: number of sequences (>= 1).
      length: L, the padded length (>= 2).
      vocab: V, the vocabulary size, pad and triggers included (>= n_classes·k + 2).
      n_classes: classes (>= 2).
      seed: seed of a private NumPy generator.
      triggers_per_class: k >= 1.
      min_length: the shortest content (2 <= min_length <= length; default ``max(2,
        length // 2)``).

    Returns:
      :class:`TriggerText`.

    Raises:
      TypeError / ValueError naming the argument.
    """
    n = validation.check_positive_int(n, "n")
    length = validation.check_positive_int(length, "length", minimum=2)
    n_classes = validation.check_positive_int(n_classes, "n_classes", minimum=2)
    k = validation.check_positive_int(triggers_per_class, "triggers_per_class")
    vocab = validation.check_positive_int(vocab, "vocab", minimum=n_classes * k + 2)
    seed = validation.check_positive_int(seed, "seed", minimum=0)
    min_length = max(2, length // 2) if min_length is None else validation.check_positive_int(
        min_length, "min_length", minimum=2)
    if min_length > length:
        raise ValueError(f"min_length: expected at most length={length}, received {min_length}")
    rng = np.random.default_rng(seed)
    triggers = 1 + np.arange(n_classes * k).reshape(n_classes, k)
    first_filler = 1 + n_classes * k
    labels = rng.permutation(np.arange(n) % n_classes).astype(np.int64)
    lengths = rng.integers(min_length, length + 1, size=n).astype(np.int64)
    tokens = np.full((n, length), PAD_TOKEN, np.int32)
    relevant = np.zeros((n, length), bool)
    for i in range(n):
        ell = int(lengths[i])
        tokens[i, :ell] = rng.integers(first_filler, vocab, size=ell)
        count = int(rng.integers(1, 3))
        positions = rng.choice(ell, size=count, replace=False)
        tokens[i, positions] = rng.choice(triggers[labels[i]], size=count, replace=True)
        relevant[i, positions] = True
    return TriggerText(tokens, labels, relevant, lengths, vocab, triggers.astype(np.int64),
                       n_classes)


@seeding.seeded_by()
def text_cnn(vocab, length, n_classes, embed_dim=16, widths=(3, 4, 5), filters=8, seed=0,
             dropout=0.0):
    """A small TextCNN (Kim, "Convolutional Neural Networks for Sentence Classification",
    EMNLP 2014): ``Embedding → [Conv1D(width, ReLU) → GlobalMaxPooling1D] per width →
    Concatenate → (Dropout) → Dense`` logits.

    Layer names: ``"embedding"``, ``"conv{width}"``, ``"logits"``. Kim uses widths (3, 4, 5),
    100 filters each and dropout 0.5 on the concatenated features; the defaults here are small,
    for tests. ``mask_zero`` is off (see :class:`tfpath.TextModel`).

    Args:
      vocab: vocabulary size. length: the input length L (>= max(widths)).
      n_classes: outputs. embed_dim: D. widths: convolution widths. filters: per width.
      seed: weight initialisation seed. dropout: rate on the concatenated features (inactive
        at inference).

    Returns:
      An uncompiled Keras 3 functional model taking int32 tokens ``[n, L]``.

    Raises:
      ValueError / TypeError naming the argument.
    """
    import keras
    vocab = validation.check_positive_int(vocab, "vocab", minimum=2)
    length = validation.check_positive_int(length, "length")
    n_classes = validation.check_positive_int(n_classes, "n_classes", minimum=2)
    widths = tuple(validation.check_positive_int(w, "widths") for w in widths)
    if not widths:
        raise ValueError("widths: expected at least one convolution width")
    if max(widths) > length:
        raise ValueError(f"length: {length} is shorter than the widest convolution "
                         f"({max(widths)})")
    inputs = keras.Input(shape=(length,), dtype="int32", name="tokens")
    e = keras.layers.Embedding(vocab, embed_dim, name="embedding")(inputs)
    pooled = [keras.layers.GlobalMaxPooling1D(name=f"pool{w}")(
        keras.layers.Conv1D(filters, w, activation="relu", name=f"conv{w}")(e)) for w in widths]
    h = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name="concat")(pooled)
    if dropout:
        h = keras.layers.Dropout(dropout, name="dropout")(h)
    outputs = keras.layers.Dense(n_classes, name="logits")(h)
    return keras.Model(inputs, outputs, name="text_cnn")

"""Dataset-scale attribution: a ``tf.data.Dataset`` streamed through any method into sharded,
resumable output files.

``explain_dataset(method, model_function, dataset, out)`` takes the dataset's elements (one
image, or an ``(image, class)`` pair, per element) in shards of ``shard_size``, explains each
shard with one ``GetMaskBatchWithDetails`` call and writes it to ``out/shard-00007.npz``:

* ``masks`` ``[n, ...]`` (float32, or float16 with ``float16=True``);
* ``convergence_delta`` ``[n]`` (float64), ``end_value`` / ``start_value`` ``[n]`` (F at the
  input and the weighted mean of F at the path starts);
* ``class_idx`` ``[n]`` (the given class, else the model's predicted class);
* ``index`` ``[n]`` (each element's position in the dataset).

``out/index.json`` records the configuration (the method, its arguments, the model function,
the dataset's element spec, the shard size and precision) and the finished shards. A shard is
written to a temporary file and renamed, then listed, so a killed run loses at most the shard
it was computing; a rerun skips every listed shard (never rewriting it) and refuses an output
folder written with another configuration. ``shard=(i, n)`` computes only the shards
``k ≡ i (mod n)`` (one job of a Slurm / Kubernetes array); the jobs share the folder, each
listing its own shards in ``index-i-of-n.json``.

Not yet here: ``strategy=`` (tf.distribute) and the ``explain-dataset`` command line.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from tfpath.core import progress as progress_lib
from tfpath.core import validation
from tfpath.core.output_checks import predicted_classes

FORMAT = "tfpath.explain_dataset/1"


def _fingerprint(value) -> str:
    """A stable text for an argument of the configuration (arrays by content hash)."""
    if isinstance(value, np.ndarray) or hasattr(value, "numpy"):
        arr = np.asarray(value)
        return f"array{arr.shape}:{arr.dtype}:{hashlib.sha1(arr.tobytes()).hexdigest()[:16]}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fingerprint(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_fingerprint(v)}" for k, v in sorted(value.items())) + "}"
    if isinstance(value, (str, int, float, bool)) or value is None:
        return repr(value)
    return f"{type(value).__module__}.{type(value).__qualname__}:{value!r}"


def _model_fingerprint(model_function) -> str:
    """The model function's class, target and (for Keras models) a hash of the weights."""
    model = getattr(model_function, "model", model_function)
    digest = hashlib.sha1()
    for weight in getattr(model, "weights", []):
        digest.update(np.asarray(weight).tobytes())
    target = getattr(model_function, "target", None)
    return (f"{type(model_function).__qualname__}({type(model).__qualname__}, target="
            f"{type(target).__qualname__ if target is not None else None}, weights="
            f"{digest.hexdigest()[:16]})")


def _elements(dataset):
    """``(image, class or None)`` NumPy pairs of a dataset's elements, checked."""
    import tensorflow as tf
    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(f"dataset: expected a tf.data.Dataset of images or (image, class) "
                        f"pairs, received {type(dataset).__name__}")
    spec = dataset.element_spec
    pairs = isinstance(spec, tuple)
    if pairs and len(spec) != 2:
        raise ValueError(f"dataset: expected elements image or (image, class), received "
                         f"tuples of {len(spec)}")
    return spec, pairs


def _shard_path(out: Path, k: int) -> Path:
    return out / f"shard-{k:05d}.npz"


def explain_dataset(method, model_function, dataset, out, *, shard_size: int = 256,
                    float16: bool = False, shard: Optional[Tuple[int, int]] = None,
                    progress: Optional[bool] = None, **method_kwargs) -> dict:
    """Explains every element of ``dataset`` into sharded, resumable files (see the module).

    Args:
      method: a tfpath method instance (``tfpath.IntegratedGradients()``, ...).
      model_function: a :class:`tfpath.ModelFunction` (any target: logits, entropy, ...).
      dataset: a ``tf.data.Dataset`` of single images ``[H, W, C]`` (or any one input's
        shape), or of ``(image, class)`` pairs; unbatched.
      out: the output folder (created).
      shard_size: elements per shard (and per method call).
      float16: store masks as float16 (half the disk).
      shard: None (every shard) or ``(i, n)``: only the shards ``k % n == i``.
      progress: a bar over the shards with images/s: None (on a terminal), True, False.
      **method_kwargs: the method's arguments (``x_steps=``, ``baselines=``, ...).

    Returns:
      The index: ``{"format", "config", "shards": {name: count}, "images"}``.

    Raises:
      TypeError / ValueError naming the argument: not a dataset, elements of another shape
      than the first (``dataset``), ``shard`` out of range, an ``out`` folder written with
      another configuration, a bad ``shard_size``.
    """
    shard_size = validation.check_positive_int(shard_size, "shard_size")
    float16 = validation.check_bool(float16, "float16")
    if shard is None:
        job, jobs = 0, 1
    else:
        try:
            job, jobs = (int(v) for v in shard)
        except (TypeError, ValueError):
            raise ValueError(f"shard: expected (i, n) with 0 <= i < n, received {shard!r}") \
                from None
        if not (jobs >= 1 and 0 <= job < jobs):
            raise ValueError(f"shard: expected (i, n) with 0 <= i < n, received {shard!r}")
    if not hasattr(method, "GetMaskBatchWithDetails"):
        raise TypeError(f"method: expected a tfpath method instance, received "
                        f"{type(method).__name__}")
    spec, pairs = _elements(dataset)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    config = {"method": f"{type(method).__qualname__}",
              "method_kwargs": {k: _fingerprint(v) for k, v in sorted(method_kwargs.items())},
              "model_function": _model_fingerprint(model_function),
              "element_spec": repr(spec), "shard_size": shard_size,
              "float16": float16}
    index_path = out / ("index.json" if jobs == 1 else f"index-{job}-of-{jobs}.json")
    finished = set()                               # shards any job has listed
    for other in out.glob("index*.json"):
        previous = json.loads(other.read_text())
        if previous.get("config") != config:
            raise ValueError(
                f"out: {out} holds shards of another configuration ({other.name}); use another "
                "folder (shards of different settings are never mixed)")
        finished.update(previous.get("shards", {}))
    index = (json.loads(index_path.read_text()) if index_path.exists()
             else {"format": FORMAT, "config": config, "shards": {}, "images": 0})
    cardinality = int(dataset.cardinality())
    bar = progress_lib.Progress(cardinality if cardinality >= 0 else None, "explain_dataset",
                                enabled=progress, unit="image")
    position, k = 0, 0
    shape = None
    for batch in dataset.batch(shard_size):
        images, classes = (batch if pairs else (batch, None))
        n = int(images.shape[0])
        name = _shard_path(out, k).name
        mine = k % jobs == job
        if mine and name not in finished:
            x = np.asarray(images, np.float32)
            if shape is None:
                shape = x.shape[1:]
            elif x.shape[1:] != shape:
                raise ValueError(f"dataset: element {position} has shape {x.shape[1:]}, the "
                                 f"first had {shape}")
            began = time.perf_counter()
            # without classes, the model's predicted class is explained (and recorded)
            c = (_predicted(model_function, x) if classes is None
                 else np.asarray(classes).astype(np.int64).reshape(-1))
            args = {"class_idx": c} if np.all(c >= 0) else None
            details = method.GetMaskBatchWithDetails(x, model_function, args, **method_kwargs)
            mask = np.asarray(details.mask, np.float16 if float16 else np.float32)
            tmp = out / (name + ".tmp")
            with open(tmp, "wb") as f:
                np.savez(f, masks=mask,
                         convergence_delta=np.asarray(details.convergence_delta, np.float64),
                         end_value=np.asarray(details.end_value, np.float64),
                         start_value=np.asarray(details.start_value, np.float64),
                         class_idx=np.asarray(c, np.int64),
                         index=np.arange(position, position + n))
            os.replace(tmp, out / name)
            index["shards"][name] = n
            index["images"] = int(sum(index["shards"].values()))
            _write_json(index_path, index)
            seconds = time.perf_counter() - began
            bar.update(n, f"shard {k}, {n / max(seconds, 1e-9):.1f} image/s")
        position += n
        k += 1
    bar.close()
    return index


def _predicted(model_function, x) -> np.ndarray:
    """The model's predicted class per input (-1 for models without class outputs)."""
    import tensorflow as tf
    call = getattr(model_function, "call_model", None)
    classes = None if call is None else predicted_classes(np.asarray(call(tf.constant(x))))
    return np.full(len(x), -1) if classes is None else np.asarray(classes, np.int64)


def _write_json(path: Path, value) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(value, indent=1, sort_keys=True))
    os.replace(tmp, path)


def load_shards(out) -> dict:
    """Every finished shard of an output folder, in dataset order, concatenated.

    Args:
      out: a folder written by :func:`explain_dataset` (every job's shards).

    Returns:
      ``{"masks", "convergence_delta", "end_value", "start_value", "class_idx", "index"}``.

    Raises:
      ValueError naming ``out``: no shards.
    """
    out = Path(out)
    files = sorted(out.glob("shard-*.npz"))
    if not files:
        raise ValueError(f"out: {out} holds no shards")
    parts = [dict(np.load(f)) for f in files]
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}

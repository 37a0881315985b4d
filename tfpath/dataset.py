"""Dataset-scale attribution: a ``tf.data.Dataset`` streamed through any method into sharded,
resumable output files, on one device, on every device of a ``tf.distribute`` strategy, or
across the processes of a cluster.

``explain_dataset(method, model_function, dataset, out)`` takes the dataset's elements (one
image, or an ``(image, class)`` pair, per element) in shards of ``shard_size``, explains each
shard with ``GetMaskBatchWithDetails`` and writes it to ``out/shard-00007.npz``:

* ``masks`` ``[n, ...]`` (float32, or float16 with ``float16=True``);
* ``convergence_delta`` ``[n]`` (float64), ``end_value`` / ``start_value`` ``[n]`` (F at the
  input and the weighted mean of F at the path starts);
* ``class_idx`` ``[n]`` (the given class, else the model's predicted class; -1 for models
  without class outputs);
* ``index`` ``[n]`` (each element's position in the dataset);
* ``metric.<name>`` ``[n]`` per-image scores of the metrics asked for (``metrics=``);
* ``seconds`` (a scalar): the time the shard took.

``out/index.json`` records the format, the configuration (the method, its arguments, the model
function with a hash of its weights, the dataset's element spec, the shard size, precision and
metrics), the finished shards and free ``metadata``. A shard is written to a temporary file and
renamed, then listed, so a killed run loses at most the shard it was computing; a rerun skips
every listed shard (never rewriting it) and refuses an output folder written with another
configuration. ``shard=(i, n)`` computes only the shards ``k ≡ i (mod n)`` (one job of a Slurm
/ Kubernetes array); the jobs share the folder, each listing its own shards in
``index-i-of-n.json``. :func:`load_shards` reads every job's shards back in dataset order, and
:func:`evaluate_shards` turns folders into a metrics table.

**Strategies.** With ``strategy=`` a ``tf.distribute.Strategy`` (``MirroredStrategy`` over the
local devices, ``MultiWorkerMirroredStrategy`` over processes or machines configured by
``TF_CONFIG``, ``OneDeviceStrategy``), each shard is split into one contiguous per-replica
batch of ``⌈n / replicas⌉`` images (the last repeated to equal sizes, then dropped), and
``strategy.run`` explains each replica's batch on its own device: the method's compiled engine
loop runs in the replica's context. The parts are gathered (``strategy.gather``, a collective
across workers) and the chief writes the shard, so every strategy writes the same files as one
device, to float32 rounding; a folder may be resumed with another strategy. Every worker of a
multi-worker run must see the same dataset in the same order; the chief decides which shards
are finished (one small collective per shard), so only the chief needs the output folder.
Strategies whose ``run`` compiles the replica function (``TPUStrategy``) or that dispatch to
remote workers (``ParameterServerStrategy``) cannot run tfpath's Python-level methods per
replica and are refused.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from tfpath.core import progress as progress_lib
from tfpath.core import validation
from tfpath.core.output_checks import predicted_classes

FORMAT = "tfpath.explain_dataset/2"
# metrics whose value over a dataset is the mean of per-image scores: shards combine exactly
SHARD_METRICS = ("insertion", "deletion", "diffid")


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


def _check_dataset(dataset):
    """The element spec and whether elements are (image, class) pairs."""
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


def _check_shard(shard) -> Tuple[int, int]:
    if shard is None:
        return 0, 1
    try:
        job, jobs = (int(v) for v in shard)
    except (TypeError, ValueError):
        raise ValueError(f"shard: expected (i, n) with 0 <= i < n, received {shard!r}") from None
    if not (jobs >= 1 and 0 <= job < jobs):
        raise ValueError(f"shard: expected (i, n) with 0 <= i < n, received {shard!r}")
    return job, jobs


def _check_metrics(metrics, metric_kwargs) -> dict:
    """``{name: kwargs}`` of the shard metrics asked for."""
    if metrics is None:
        return {}
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    kwargs = dict(metric_kwargs or {})
    for name in names:
        if name not in SHARD_METRICS:
            raise ValueError(f"metrics: {name!r} cannot be stored per shard; expected some of "
                             f"{list(SHARD_METRICS)} (their dataset value is the mean of the "
                             "per-image scores; compute the others with evaluate_shards)")
    unknown = sorted(set(kwargs) - set(names))
    if unknown:
        raise ValueError(f"metric_kwargs: {unknown} are not among metrics {names}")
    return {name: dict(kwargs.get(name, {})) for name in names}


def _check_strategy(strategy):
    if strategy is None:
        return None
    import tensorflow as tf
    if not isinstance(strategy, tf.distribute.Strategy):
        raise TypeError(f"strategy: expected a tf.distribute.Strategy or None, received "
                        f"{type(strategy).__name__}")
    refused = tuple(getattr(tf.distribute, name) for name in ("TPUStrategy",)
                    if hasattr(tf.distribute, name)) + tuple(
        getattr(tf.distribute.experimental, name) for name in ("ParameterServerStrategy",)
        if hasattr(tf.distribute.experimental, name))
    if isinstance(strategy, refused):
        raise ValueError(f"strategy: {type(strategy).__name__} cannot run tfpath's methods per "
                         "replica (they run Python between compiled calls); use "
                         "MirroredStrategy, MultiWorkerMirroredStrategy or OneDeviceStrategy")
    return strategy


def _shards(dataset, pairs, shard_size, expected):
    """``(images [n, ...] float32, classes [n] or None, first position)`` per shard, each
    element checked (shape against the first element and the model's input, finite values)."""
    images, classes, shape, position = [], [], None, 0
    for element in dataset.as_numpy_iterator():
        image, label = element if pairs else (element, None)
        image = np.asarray(image)
        if image.dtype == object or not (np.issubdtype(image.dtype, np.floating)
                                         or np.issubdtype(image.dtype, np.integer)):
            raise TypeError(f"dataset: element {position} has dtype {image.dtype}; expected "
                            "real numbers")
        if shape is None:
            shape = image.shape
            if expected is not None and not validation.fits_declared_shape(shape, expected):
                raise ValueError(f"dataset: elements have shape {shape}, the model expects "
                                 f"{(None,) + tuple(expected)}")
        elif image.shape != shape:
            raise ValueError(f"dataset: element {position} has shape {image.shape}, the "
                             f"first had {shape}")
        if not np.all(np.isfinite(image)):
            raise ValueError(f"dataset: element {position} contains NaN or inf")
        images.append(image.astype(np.float32))
        if pairs:
            if np.ndim(label) != 0:
                raise ValueError(f"dataset: the class of element {position} has shape "
                                 f"{np.shape(label)}; expected one integer per image")
            classes.append(int(label))
        position += 1
        if len(images) == shard_size:
            yield np.stack(images), (np.asarray(classes, np.int64) if pairs else None), \
                position - len(images)
            images, classes = [], []
    if images:
        yield np.stack(images), (np.asarray(classes, np.int64) if pairs else None), \
            position - len(images)


def _explainer(method, model_function, metrics, method_kwargs):
    """``fn(x, c) -> {name: array [n, ...]}``: the attribution of one batch and its metrics."""
    from tfpath import evaluation

    def explain(x, c):
        args = {"class_idx": c} if np.all(c >= 0) else None
        details = method.GetMaskBatchWithDetails(x, model_function, args, **method_kwargs)
        out = {"masks": np.asarray(details.mask, np.float32),
               "convergence_delta": np.asarray(details.convergence_delta, np.float64),
               "end_value": np.asarray(details.end_value, np.float64),
               "start_value": np.asarray(details.start_value, np.float64)}
        for name, kwargs in metrics.items():
            result = evaluation.METRICS[name](model_function, x, out["masks"],
                                              None if args is None else c, **kwargs)
            out["metric." + name] = np.asarray(result.per_image, np.float64)
        return out
    return explain


def _run_replicas(strategy, explain, x, c):
    """``explain`` on each replica's contiguous part of ``(x, c)`` inside ``strategy.run``;
    the parts gathered back in order (all workers take part; every worker gets the result)."""
    import tensorflow as tf
    replicas = strategy.num_replicas_in_sync
    n = len(x)
    per = -(-n // replicas)
    rows = np.minimum(np.arange(per * replicas), n - 1)     # the last image pads the parts

    def part(context):
        r = rows[context.replica_id_in_sync_group * per:
                 (context.replica_id_in_sync_group + 1) * per]
        return tf.constant(x[r]), tf.constant(c[r])

    parts = strategy.experimental_distribute_values_from_function(part)

    def replica(x_part, c_part):
        out = explain(np.asarray(x_part), np.asarray(c_part))
        return {name: tf.constant(value) for name, value in out.items()}

    per_replica = strategy.run(replica, args=parts)
    # one gather per array, in the same order on every worker (gather of a whole dict keeps
    # only the first replica's part under MirroredStrategy in TensorFlow 2.21)
    return {name: np.asarray(strategy.gather(per_replica[name], axis=0))[:n]
            for name in sorted(per_replica)}


def _chief_decides(strategy, skip: bool) -> bool:
    """The chief's (replica 0's) ``skip`` decision, on every worker (one tiny collective)."""
    if strategy is None:
        return skip
    import tensorflow as tf
    flags = strategy.experimental_distribute_values_from_function(
        lambda context: tf.constant(
            float(skip) if context.replica_id_in_sync_group == 0 else 0.0))
    return bool(strategy.reduce(tf.distribute.ReduceOp.SUM, flags, axis=None) > 0.5)


def explain_dataset(method, model_function, dataset, out, *, shard_size: int = 256,
                    float16: bool = False, shard: Optional[Tuple[int, int]] = None,
                    strategy=None, metrics: Optional[Sequence[str]] = None,
                    metric_kwargs: Optional[Mapping[str, dict]] = None,
                    metadata: Optional[dict] = None, progress: Optional[bool] = None,
                    **method_kwargs) -> dict:
    """Explains every element of ``dataset`` into sharded, resumable files (see the module).

    Args:
      method: a tfpath method instance (``tfpath.IntegratedGradients()``, ...).
      model_function: a :class:`tfpath.ModelFunction` (any target: logits, entropy, ...).
      dataset: a ``tf.data.Dataset`` of single images ``[H, W, C]`` (or any one input's
        shape), or of ``(image, class)`` pairs; unbatched.
      out: the output folder (created).
      shard_size: elements per shard (the global batch: split over a strategy's replicas).
      float16: store masks as float16 (half the disk).
      shard: None (every shard) or ``(i, n)``: only the shards ``k % n == i``.
      strategy: None (the current device) or a ``tf.distribute.Strategy`` (see the module).
      metrics: per-image scores to store with each shard, some of :data:`SHARD_METRICS`
        (insertion, deletion, DiffID, scored by ``model_function``).
      metric_kwargs: ``{metric: keyword arguments}`` (e.g. ``{"insertion": {"fill":
        "blur"}}``).
      metadata: a JSON-serialisable dict stored in the index (not part of the configuration;
        the command line keeps its model and image paths there).
      progress: a bar over the images with images/s: None (on a terminal), True, False. The
        methods' own bars stay off inside it.
      **method_kwargs: the method's arguments (``x_steps=``, ``baselines=``, ...).

    Returns:
      The index: ``{"format", "config", "shards": {name: count}, "images", "metadata"}``.

    Raises:
      TypeError / ValueError naming the argument: not a dataset, an element of another shape
      than the first or than the model's input, with NaN, or with a non-scalar class
      (``dataset``); ``shard`` out of range; an ``out`` folder written with another
      configuration; a bad ``shard_size``, ``strategy``, ``metrics`` or ``metadata``.
    """
    shard_size = validation.check_positive_int(shard_size, "shard_size")
    float16 = validation.check_bool(float16, "float16")
    job, jobs = _check_shard(shard)
    strategy = _check_strategy(strategy)
    metrics = _check_metrics(metrics, metric_kwargs)
    if not hasattr(method, "GetMaskBatchWithDetails"):
        raise TypeError(f"method: expected a tfpath method instance, received "
                        f"{type(method).__name__}")
    try:
        metadata = json.loads(json.dumps(metadata or {}))
    except (TypeError, ValueError) as e:
        raise TypeError(f"metadata: expected a JSON-serialisable dict ({e})") from None
    spec, pairs = _check_dataset(dataset)
    writer = strategy is None or bool(strategy.extended.should_checkpoint)
    out = Path(out)
    if writer:
        out.mkdir(parents=True, exist_ok=True)
    config = {"method": f"{type(method).__qualname__}",
              "method_kwargs": {k: _fingerprint(v) for k, v in sorted(method_kwargs.items())},
              "model_function": _model_fingerprint(model_function),
              "element_spec": repr(spec), "shard_size": shard_size,
              "float16": float16,
              "metrics": {name: _fingerprint(kwargs) for name, kwargs in metrics.items()}}
    index_path = out / ("index.json" if jobs == 1 else f"index-{job}-of-{jobs}.json")
    finished = set()                               # shards any job has listed
    for other in sorted(out.glob("index*.json")):
        previous = json.loads(other.read_text())
        if previous.get("config") != config:
            raise ValueError(
                f"out: {out} holds shards of another configuration ({other.name}); use another "
                "folder (shards of different settings are never mixed)")
        finished.update(previous.get("shards", {}))
    index = (json.loads(index_path.read_text()) if index_path.exists()
             else {"format": FORMAT, "config": config, "shards": {}, "images": 0})
    index["metadata"] = metadata
    cardinality = int(dataset.cardinality())
    bar = progress_lib.Progress(cardinality if cardinality >= 0 else None, "explain_dataset",
                                enabled=progress if writer else False, unit="image")
    explain = _explainer(method, model_function, metrics, method_kwargs)
    expected = getattr(model_function, "declared_input_shape", None)
    with progress_lib.quiet():
        for k, (x, classes, position) in enumerate(_shards(dataset, pairs, shard_size,
                                                           expected)):
            name = f"shard-{k:05d}.npz"
            n = len(x)
            if k % jobs != job or _chief_decides(strategy, name in finished):
                bar.update(n, f"shard {k} done before")
                continue
            began = time.perf_counter()
            # without classes, the model's predicted class is explained (and recorded)
            c = _predicted(model_function, x) if classes is None else classes
            result = (explain(x, c) if strategy is None
                      else _run_replicas(strategy, explain, x, c))
            seconds = time.perf_counter() - began
            if writer:
                result["masks"] = result["masks"].astype(np.float16 if float16 else np.float32)
                tmp = out / (name + ".tmp")
                with open(tmp, "wb") as f:
                    np.savez(f, class_idx=np.asarray(c, np.int64),
                             index=np.arange(position, position + n),
                             seconds=np.float64(seconds), **result)
                os.replace(tmp, out / name)
                index["shards"][name] = n
                index["images"] = int(sum(index["shards"].values()))
                _write_json(index_path, index)
            bar.update(n, f"shard {k}, {n / max(seconds, 1e-9):.1f} image/s")
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


def read_index(out) -> dict:
    """The configuration, metadata and finished shards of an output folder (every job's).

    Args:
      out: a folder written by :func:`explain_dataset`.

    Returns:
      ``{"config", "metadata", "shards": {name: count}, "images"}``.

    Raises:
      ValueError naming ``out``: no index, or indexes of different configurations.
    """
    out = Path(out)
    files = sorted(out.glob("index*.json"))
    if not files:
        raise ValueError(f"out: {out} holds no explain_dataset index (index.json)")
    indexes = [json.loads(f.read_text()) for f in files]
    if any(i.get("config") != indexes[0].get("config") for i in indexes):
        raise ValueError(f"out: {out} holds indexes of different configurations")
    shards = {}
    for i in indexes:
        shards.update(i.get("shards", {}))
    return {"config": indexes[0].get("config"), "metadata": indexes[0].get("metadata", {}),
            "shards": shards, "images": int(sum(shards.values()))}


def load_shards(out) -> dict:
    """Every finished shard of an output folder, in dataset order, concatenated.

    Args:
      out: a folder written by :func:`explain_dataset` (every job's shards).

    Returns:
      ``{"masks", "convergence_delta", "end_value", "start_value", "class_idx", "index",
      "metric.<name>"..., "seconds" [shards]}``.

    Raises:
      ValueError naming ``out``: no shards.
    """
    out = Path(out)
    files = sorted(out.glob("shard-*.npz"))
    if not files:
        raise ValueError(f"out: {out} holds no shards")
    parts = [dict(np.load(f)) for f in files]
    return {key: (np.stack if parts[0][key].ndim == 0 else np.concatenate)(
        [p[key] for p in parts]) for key in parts[0]}


def evaluate_shards(outs: Union[str, os.PathLike, Mapping[str, Union[str, os.PathLike]]],
                    metrics: Sequence[str] = ("insertion", "deletion"), *,
                    model_function=None, dataset=None,
                    metric_kwargs: Optional[Mapping[str, dict]] = None):
    """The metrics table of one or more :func:`explain_dataset` folders (one row each).

    A metric stored in the shards (``metrics=`` of :func:`explain_dataset`, the same keyword
    arguments) is the mean of its per-image scores, exactly what the metric returns on all
    images at once. Any other metric of :data:`tfpath.evaluation.METRICS` is computed from the
    stored maps and the dataset's images (all images at once; memory grows with their number).

    Args:
      outs: a folder, or ``{row name: folder}``.
      metrics: metric names.
      model_function: the scoring model function; needed for metrics not in the shards.
      dataset: the explained dataset (same order); needed for metrics not in the shards.
      metric_kwargs: ``{metric: keyword arguments}``.

    Returns:
      :class:`tfpath.evaluation.EvaluationTable` (``seconds``: the shards' attribution time).

    Raises:
      ValueError / TypeError naming the argument: an unknown metric; a folder without shards
      or with missing shards of its dataset; no ``model_function`` / ``dataset`` where a metric
      must be computed; a dataset of another size.
    """
    from tfpath import evaluation
    from tfpath.metrics.results import mean_result
    folders = {Path(outs).name: outs} if isinstance(outs, (str, os.PathLike)) else dict(outs)
    if not folders:
        raise ValueError("outs: expected a folder or a non-empty {name: folder}")
    names = [metrics] if isinstance(metrics, str) else list(metrics)
    for name in names:
        if name not in evaluation.METRICS:
            raise ValueError(f"metrics: unknown metric {name!r}; expected some of "
                             f"{sorted(evaluation.METRICS)}")
    metric_kwargs = dict(metric_kwargs or {})
    images = None
    results, seconds, metric_seconds = {}, {}, {}
    for row, folder in folders.items():
        index = read_index(folder)
        shards = load_shards(folder)
        if not np.array_equal(shards["index"], np.arange(len(shards["index"]))):
            raise ValueError(f"outs: {folder} misses shards (images {len(shards['index'])} of "
                             "a contiguous run); finish the run first")
        stored = index["config"].get("metrics", {})
        results[row], metric_seconds[row] = {}, {}
        seconds[row] = float(np.sum(shards["seconds"]))
        c = shards["class_idx"]
        for name in names:
            began = time.perf_counter()
            kwargs = metric_kwargs.get(name, {})
            if "metric." + name in shards and stored.get(name) == _fingerprint(kwargs):
                result = mean_result(name, shards["metric." + name],
                                     higher_is_better=name != "deletion")
            else:
                if model_function is None or dataset is None:
                    raise ValueError(f"model_function: metric {name!r} is not stored in {folder}"
                                     "; pass model_function= and dataset= to compute it")
                if images is None:
                    spec, pairs = _check_dataset(dataset)
                    images = np.concatenate([x for x, _, _ in _shards(
                        dataset, pairs, 1024, None)])
                if len(images) != len(c):
                    raise ValueError(f"dataset: {len(images)} images, {folder} explains "
                                     f"{len(c)}")
                result = evaluation.METRICS[name](
                    model_function, images, shards["masks"].astype(np.float32),
                    None if np.any(c < 0) else c, **kwargs)
            results[row][name] = result
            metric_seconds[row][name] = time.perf_counter() - began
    return evaluation.EvaluationTable(list(folders), names, results, seconds, metric_seconds)

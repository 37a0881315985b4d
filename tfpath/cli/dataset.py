"""``tfpath explain-dataset`` and ``tfpath evaluate``: a folder of images (or a TFDS split)
through a saved Keras classifier into resumable shards, and the metrics table of the shards.

::

    tfpath explain-dataset --model M.keras (--images DIR | --tfds NAME [--split S]
                           [--data-dir D]) --method ig|blur-ig|guided-ig|agi [--idgi]
                           [--steps N] [--target logit|probability]
                           [--preprocess NAME|LOW,HIGH | --input-range LOW,HIGH]
                           --out OUT [--resume] [--shard i/n] [--shard-size N] [--float16]
                           [--metrics insertion,deletion,diffid] [--limit N]
    tfpath evaluate OUT [OUT ...] [--metrics insertion,deletion,...] [--model M.keras]
                    [--csv F] [--markdown]

``--images DIR`` reads the image files under DIR in sorted order: with sub-folders, the
sub-folder names (sorted) are the classes, as in ``keras.utils.image_dataset_from_directory``;
without, each image's predicted class is explained. ``--tfds NAME`` reads a prepared
TensorFlow Datasets split (``tensorflow-datasets`` installed, the data already in
``--data-dir``: nothing is downloaded) of (image, label) pairs. Images are converted to the
model's input as by ``tfpath explain``.

The shards are those of :func:`tfpath.explain_dataset`; the index keeps the command's model,
images and settings, so ``tfpath evaluate OUT`` needs no other argument: metrics stored in the
shards (``--metrics`` of ``explain-dataset``) are averaged, any other is computed from the
stored maps with the model and images the index names (or ``--model``). Several folders give
one row each.

An existing output folder is continued only with ``--resume`` (finished shards are skipped,
never rewritten); without it, a folder holding shards is refused, as is one written with other
settings.
"""
from __future__ import annotations

import warnings
from pathlib import Path

from tfpath import preprocessing
from tfpath.cli.common import (METHODS, TARGETS, CLIError, add_progress_options,
                               check_model_file, check_steps, import_tensorflow,
                               input_settings, load_image, load_model, model_function_for,
                               one_line, open_image, progress_enabled)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
# tfpath.dataset.SHARD_METRICS, spelled here so that argument checks import no NumPy
SHARD_METRICS = ("insertion", "deletion", "diffid")
TABLE_METRICS = ("insertion", "deletion", "diffid", "aic", "sic")


def image_files(root):
    """The image files under ``root`` and their classes.

    Args:
      root: a folder of images, or of one sub-folder of images per class.

    Returns:
      ``(files, labels, class_names)``: sorted paths; with sub-folders, ``labels[i]`` is the
      index of file i's sub-folder in the sorted ``class_names``; without, ``labels`` is None.

    Raises:
      CLIError naming ``--images``: not a folder, or no image files.
    """
    root = Path(root)
    if not root.is_dir():
        raise CLIError("--images", f"{root} is not a folder")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())

    def images(folder):
        return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                      and p.is_file())
    if classes:
        files, labels = [], []
        for label, name in enumerate(classes):
            found = images(root / name)
            files += found
            labels += [label] * len(found)
    else:
        files, labels = images(root), None
    if not files:
        raise CLIError("--images", f"no image files ({', '.join(IMAGE_SUFFIXES)}) under {root}")
    return files, labels, classes


def _parse_shard(text):
    if text is None:
        return None
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise CLIError("--shard", f"expected i/n (job i of n, 0 <= i < n), received {text!r}") \
            from None
    if not (n >= 1 and 0 <= i < n):
        raise CLIError("--shard", f"expected i/n with 0 <= i < n, received {text!r}")
    return i, n


def _parse_metrics(text, allowed, argument="--metrics"):
    if text is None:
        return []
    names = [m.strip() for m in text.split(",") if m.strip()]
    for name in names:
        if name not in allowed:
            raise CLIError(argument, f"unknown metric {name!r}; expected a comma-separated "
                                     f"list of {', '.join(allowed)}")
    return names


def image_dataset(source, input_shape, input_range, limit=None):
    """The ``tf.data.Dataset`` of ``(image, class)`` (or images) that ``source`` names.

    Args:
      source: ``{"images": DIR}`` or ``{"tfds": NAME, "split": S, "data_dir": D}``.
      input_shape: the model's input ``(H, W, C)``.
      input_range: pixel values 0..255 are mapped linearly to this range.
      limit: the first ``limit`` elements only (None: all).

    Returns:
      ``(dataset, description)``.

    Raises:
      CLIError naming ``--images`` / ``--tfds``: what cannot be read.
    """
    import numpy as np
    import tensorflow as tf
    if source.get("images") is not None:
        files, labels, classes = image_files(source["images"])
        if limit is not None:
            files = files[:limit]
            labels = None if labels is None else labels[:limit]
        for f in files:                                  # headers only: fail before the run
            open_image(f)
        shape = load_image(files[0], input_shape, input_range)[0].shape

        def generate():
            for i, f in enumerate(files):
                x = load_image(f, input_shape, input_range)[0]
                yield x if labels is None else (x, np.int64(labels[i]))
        image_spec = tf.TensorSpec(shape, tf.float32)
        signature = image_spec if labels is None else (image_spec, tf.TensorSpec([], tf.int64))
        dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(files)))
        kind = f"{len(classes)} classes by sub-folder" if labels is not None else \
            "predicted classes"
        return dataset, f"{len(files)} images in {source['images']} ({kind})"
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise CLIError("--tfds", "needs the tensorflow-datasets package (pip install "
                                 "tensorflow-datasets)") from None
    try:
        dataset = tfds.load(source["tfds"], split=source.get("split") or "test",
                            data_dir=source.get("data_dir"), download=False,
                            as_supervised=True)
    except Exception as e:                       # tfds raises many types for a missing split
        raise CLIError("--tfds", f"cannot load {source['tfds']!r} (split "
                                 f"{source.get('split') or 'test'!r}) without downloading: "
                                 f"{one_line(e)[:300]}") from None
    height, width, channels = input_shape
    low, high = input_range

    def convert(image, label):
        image = tf.cast(image, tf.float32)
        if image.shape[-1] != channels:
            if channels == 1:
                image = tf.image.rgb_to_grayscale(image[..., :3])
            elif channels == 3 and image.shape[-1] == 1:
                image = tf.image.grayscale_to_rgb(image)
        if height is not None and width is not None:
            image = tf.image.resize(image, (height, width))
        return low + (high - low) * image / 255.0, label
    dataset = dataset.map(convert)
    if limit is not None:
        dataset = dataset.take(limit)
    return dataset, f"TFDS {source['tfds']} ({source.get('split') or 'test'})"


def explain_dataset(args):
    """Runs ``tfpath explain-dataset``; returns the index (also summarised on stdout).

    Args:
      args: the parsed ``argparse.Namespace`` of the ``explain-dataset`` subcommand.

    Returns:
      The index dict of :func:`tfpath.explain_dataset`.

    Raises:
      CLIError: bad arguments (reported by :func:`tfpath.cli.main`).
    """
    preprocess, input_range = input_settings(args)
    check_steps(args)
    shard = _parse_shard(args.shard)
    metrics = _parse_metrics(args.metrics, SHARD_METRICS)
    for option, value in (("--shard-size", args.shard_size), ("--limit", args.limit)):
        if value is not None and value < 1:
            raise CLIError(option, f"expected an integer >= 1, received {value}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CLIError("--out", f"{out} exists and is not a folder")
    if out.is_dir() and any(out.glob("index*.json")) and not args.resume:
        raise CLIError("--out", f"{out} holds shards of an earlier run; pass --resume to "
                                "continue it, or choose another folder")
    if args.images is not None:
        image_files(args.images)
    check_model_file(args.model)

    import_tensorflow()
    import tfpath
    source = {"images": None if args.images is None else str(Path(args.images).resolve()),
              "tfds": args.tfds, "split": args.split, "data_dir": args.data_dir}
    mf, target, dataset, described = _model_and_images(args.model, source, input_range,
                                                       args.limit, args.target, preprocess)
    info = METHODS[args.method]
    kwargs = info.kwargs(idgi=args.idgi, steps=args.steps)
    metadata = {"command": "explain-dataset", "model": str(Path(args.model).resolve()),
                "source": source, "limit": args.limit, "target": target,
                "preprocess": preprocess, "input_range": list(input_range),
                "method": args.method, "idgi": args.idgi, "steps": kwargs[info.steps_argument]}
    integrator = "IDGI" if args.idgi else "PAIR rule"
    print(f"explaining {described} with {info.title} ({integrator}, "
          f"{kwargs[info.steps_argument]} steps), target {target}, into {out}", flush=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"The structure of `inputs` doesn't")
        warnings.filterwarnings("ignore", message=r".*degenerate attribution")
        try:
            index = tfpath.explain_dataset(
                info.build(), mf, dataset, out, shard_size=args.shard_size, shard=shard,
                float16=args.float16, metrics=metrics or None, metadata=metadata,
                progress=progress_enabled(args), **kwargs)
        except ValueError as e:
            text = str(e)
            argument = text.split(":")[0]
            options = {"out": "--out", "dataset": "--images" if args.images else "--tfds",
                       "class_idx": "--model"}
            if argument in options:
                raise CLIError(options[argument], one_line(text.split(":", 1)[1])) from None
            raise CLIError(f"--method {args.method}", one_line(text)) from None
    print(f"{index['images']} images in {len(index['shards'])} shards in {out}")
    return index


def evaluate(args):
    """Runs ``tfpath evaluate``; prints the table and returns it.

    Args:
      args: the parsed ``argparse.Namespace`` of the ``evaluate`` subcommand.

    Returns:
      :class:`tfpath.evaluation.EvaluationTable`.

    Raises:
      CLIError: bad arguments (reported by :func:`tfpath.cli.main`).
    """
    metrics = _parse_metrics(args.metrics, TABLE_METRICS)
    if not metrics:
        raise CLIError("--metrics", "expected at least one metric")
    for folder in args.folders:
        if not Path(folder).is_dir() or not any(Path(folder).glob("index*.json")):
            raise CLIError("folders", f"{folder} is not an explain-dataset output folder (no "
                                      "index.json)")
    if args.model is not None:
        check_model_file(args.model)
    import_tensorflow()
    from tfpath.dataset import evaluate_shards, read_index
    rows = {}
    for folder in args.folders:
        name = Path(folder).resolve().name
        while name in rows:
            name += "'"
        rows[name] = folder
    indexes = {name: read_index(folder) for name, folder in rows.items()}
    stored = {name: set(index["config"].get("metrics", {})) for name, index in indexes.items()}
    needs_model = any(m not in s for m in metrics for s in stored.values())
    tables = []
    for name, folder in rows.items():
        model_function = dataset = None
        meta = indexes[name]["metadata"]
        if needs_model and any(m not in stored[name] for m in metrics):
            model_function, dataset = _scoring_inputs(args, meta, folder)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"The structure of `inputs` doesn't")
            try:
                tables.append(evaluate_shards({name: folder}, metrics,
                                              model_function=model_function, dataset=dataset))
            except ValueError as e:
                raise CLIError("folders", one_line(e)) from None
    table = tables[0]
    for other in tables[1:]:
        table.methods += other.methods
        table.results.update(other.results)
        table.seconds.update(other.seconds)
        table.metric_seconds.update(other.metric_seconds)
    print(table.to_markdown() if args.markdown else table.to_text())
    if args.csv:
        table.to_csv(args.csv)
        print(f"wrote {args.csv}")
    return table


def _scoring_inputs(args, meta, folder):
    """The model function and dataset an index's metadata names (``--model`` overrides)."""
    if meta.get("command") != "explain-dataset":
        raise CLIError("folders", f"{folder} was not written by tfpath explain-dataset; its "
                                  "metrics must be computed with tfpath.evaluate_shards")
    mf, _, dataset, _ = _model_and_images(args.model or meta["model"], meta["source"],
                                          tuple(meta["input_range"]), meta.get("limit"),
                                          meta["target"], meta["preprocess"])
    return mf, dataset


def _model_and_images(model_path, source, input_range, limit, target, preprocess):
    """``(model function, target, dataset, description)``: the saved model, the images
    ``source`` names converted to its input, and the model function of ``target`` (checked on
    the first image)."""
    model = load_model(model_path)
    dataset, described = image_dataset(source, tuple(model.input_shape[1:]), input_range, limit)
    first = next(iter(dataset))
    first = first[0] if isinstance(first, tuple) else first
    mf, target = model_function_for(model, target, preprocess, first.numpy())
    return mf, target, dataset, described


def add_parsers(sub):
    """Adds the ``explain-dataset`` and ``evaluate`` subcommands to ``sub``."""
    ed = sub.add_parser("explain-dataset", help="attribute every image of a folder or TFDS "
                                                "split into resumable shards",
                        description="Attribute a saved Keras classifier on every image of a "
                                    "folder (or a prepared TFDS split) into resumable npz "
                                    "shards with a JSON index.")
    ed.add_argument("--model", required=True, help="saved Keras model (.keras or .h5)")
    source = ed.add_mutually_exclusive_group(required=True)
    source.add_argument("--images", metavar="DIR", help="folder of images, or of one "
                                                        "sub-folder per class")
    source.add_argument("--tfds", metavar="NAME", help="a TensorFlow Datasets name (already "
                                                       "prepared; nothing is downloaded)")
    ed.add_argument("--split", default=None, help="the TFDS split (default test)")
    ed.add_argument("--data-dir", default=None, help="the TFDS data folder")
    ed.add_argument("--method", required=True, choices=sorted(METHODS), help="path method")
    ed.add_argument("--idgi", action="store_true", help="IDGI integrator")
    ed.add_argument("--steps", type=int, default=None, help="path steps")
    ed.add_argument("--target", choices=TARGETS, default=None,
                    help="logit or probability of the class (default as tfpath explain)")
    ed.add_argument("--preprocess", default=None, metavar="NAME|LOW,HIGH",
                    help="the model's preprocessing inside the explained function ("
                         + ", ".join(sorted(preprocessing.FAMILIES)) + ", or LOW,HIGH)")
    ed.add_argument("--input-range", default=None, metavar="LOW,HIGH",
                    help="without --preprocess: the range pixels are scaled to (default 0,1)")
    ed.add_argument("--out", required=True, help="output folder of shards")
    ed.add_argument("--resume", action="store_true",
                    help="continue the run in --out (finished shards are skipped)")
    ed.add_argument("--shard", default=None, metavar="i/n",
                    help="job i of n of a job array: only the shards k with k %% n == i")
    ed.add_argument("--shard-size", type=int, default=256, help="images per shard (256)")
    ed.add_argument("--float16", action="store_true", help="store maps as float16")
    ed.add_argument("--metrics", default=None, metavar="M,M",
                    help="per-image scores to store: " + ", ".join(SHARD_METRICS))
    ed.add_argument("--limit", type=int, default=None, help="the first N images only")
    add_progress_options(ed)
    ed.set_defaults(func=explain_dataset)

    ev = sub.add_parser("evaluate", help="the metrics table of explain-dataset folders",
                        description="The faithfulness table (mean ± standard error) of one or "
                                    "more explain-dataset output folders, one row each.")
    ev.add_argument("folders", nargs="+", metavar="OUT", help="explain-dataset output folders")
    ev.add_argument("--metrics", default="insertion,deletion", metavar="M,M",
                    help="metrics: " + ", ".join(TABLE_METRICS) + " (default insertion,"
                                                                   "deletion)")
    ev.add_argument("--model", default=None, help="the scoring model (default: the one the "
                                                  "index names)")
    ev.add_argument("--csv", default=None, help="also write the table as CSV")
    ev.add_argument("--markdown", action="store_true", help="print a markdown table")
    ev.set_defaults(func=evaluate)

"""Throughput and memory of ``tfpath.explain_dataset`` at dataset scale.

Setup: ``--images`` (default 2,000) images of the MNIST subset (shuffled, train and test
together) on the small CNN of ``benchmarks/speed.py``, in shards of ``--shard-size`` (250);
IG and Guided IG with ``--steps`` (128) steps, each image's predicted class.

* **Throughput**: images/s of the whole run (reading the dataset, the attributions, the
  atomic shard writes) against the **honest limit**: the fastest chunking of the same
  compiled, batched gradient (``ModelFunction.value_and_gradient``) over the same points
  (images × steps), measured in the same run. The chunking is chosen on the first shard's
  points (every chunk size of ``--chunks``, a Python loop or a ``tf.while_loop``, fastest of
  ``--repeats``), then every shard's points are timed with it; materialising the points is not
  timed.
* **Memory**: the run grows in stages (the first 250, 500, 1,000, 2,000 images, each stage
  resuming the folder of the previous one), and the process's peak resident memory is printed
  after each: flat when it does not grow with the number of images.

    python benchmarks/dataset_scale.py [--images 2000] [--steps 128] [--shard-size 250]
"""
import argparse
import os
import resource
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfpath  # noqa: E402
from tfpath.datasets import load_mnist_subset  # noqa: E402
from tfpath.zoo import small_cnn  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import DEFAULT_CHUNKS, limit, variants  # noqa: E402


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def stages(n, shard_size):
    """Growing image counts (whole shards) ending at ``n``."""
    counts, c = [], shard_size
    while c < n:
        counts.append(c)
        c *= 2
    return counts + [n]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--shard-size", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunks", type=int, nargs="+", default=list(DEFAULT_CHUNKS))
    parser.add_argument("--methods", nargs="+", default=["IG", "Guided IG"])
    args = parser.parse_args(argv)
    tf.get_logger().setLevel("ERROR")

    split = load_mnist_subset()
    x = np.concatenate([split.x_train, split.x_test])
    x = x[np.random.default_rng(0).permutation(len(x))][:args.images]
    model = small_cnn((28, 28, 1), 10)
    mf = tfpath.ModelFunction(model, target="logit")
    classes = model.predict(x, verbose=0, batch_size=500).argmax(1).astype(np.int32)
    dataset = tf.data.Dataset.from_tensor_slices(x)
    steps = args.steps
    methods = {"IG": tfpath.IntegratedGradients(), "Guided IG": tfpath.GuidedIG()}

    # the methods first (the limit's materialised points would dominate the peak memory)
    rows = {}
    for name in args.methods:
        method = methods[name]
        with tempfile.TemporaryDirectory() as out, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # warm-up (tracing) on a separate folder, not timed
            tfpath.explain_dataset(method, mf, dataset.take(args.shard_size), Path(out) / "warm",
                                   shard_size=args.shard_size, progress=False, x_steps=steps)
            seconds, stage_rows = 0.0, []
            for count in stages(len(x), args.shard_size):
                start = time.perf_counter()
                tfpath.explain_dataset(method, mf, dataset.take(count), Path(out) / "run",
                                       shard_size=args.shard_size, progress=False,
                                       x_steps=steps)
                seconds += time.perf_counter() - start
                stage_rows.append((count, seconds, peak_rss_mb()))
        rows[name] = stage_rows

    # the honest limit: the same number of gradients at path points of every shard
    alphas = np.linspace(0, 1, steps, dtype=np.float32)

    def points(s):
        part = x[s:s + args.shard_size]
        return ((alphas[None, :, None, None, None] * part[:, None]).reshape(-1, 28, 28, 1),
                np.repeat(classes[s:s + args.shard_size], steps))
    first, first_classes = points(0)
    _, (variant, chunk), _ = limit(mf, first, first_classes, args.chunks, args.repeats)
    limit_seconds = 0.0
    for s in range(0, len(x), args.shard_size):
        run = variants(mf, *points(s), chunk)[variant]
        run()                                                  # tracing, not timed
        start = time.perf_counter()
        run()
        limit_seconds += time.perf_counter() - start
    how = f"{variant}, chunks of {chunk}"

    print(f"{len(x)} MNIST-subset images (28×28×1), small CNN, {steps} steps, shards of "
          f"{args.shard_size}; {os.cpu_count()} cores")
    print(f"limit: {len(x) * steps} gradients in {limit_seconds:.1f} s "
          f"({len(x) / limit_seconds:.1f} image/s; chunking {how})")
    print(f"{'method':12s} {'images':>7s} {'seconds':>9s} {'image/s':>9s} {'× limit':>8s} "
          f"{'peak RSS MB':>12s}")
    for name, stage_rows in rows.items():
        for count, seconds, memory in stage_rows:
            print(f"{name:12s} {count:7d} {seconds:9.1f} {count / seconds:9.1f} "
                  f"{seconds / (limit_seconds * count / len(x)):8.2f} {memory:12.0f}")
    return {"limit_seconds": limit_seconds, "chunking": how,
            "rows": {name: {"seconds": r[-1][1], "ratio": r[-1][1] / limit_seconds,
                            "memory": [(c, m) for c, _, m in r]} for name, r in rows.items()}}


if __name__ == "__main__":
    main()

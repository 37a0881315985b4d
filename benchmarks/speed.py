"""Speed of tfpath against PAIR saliency and against the physical limit, in one run.

Setup (issue 2): 16 MNIST-size images (28×28×1) × 128 steps on a small CNN. Times:

* limit — one compiled, batched forward+backward over all 16 × 128 path points at once;
* tfpath IG and Guided IG — ``GetMaskBatch`` on the 16 images (default batching);
* PAIR IG (``batch_size = steps``) and PAIR Guided IG (behind a NumPy-2 shim for its
  ``np.quantile(interpolation=)``), one image at a time, with the standard ``tf.GradientTape``
  ``call_model_function`` of PAIR's TF2 examples.

Each time is the fastest of ``--repeats`` runs after one warm-up run (tracing excluded; the
minimum is the least noisy estimate on a shared machine); the printed ratios are to the limit
measured in the same run.

    python benchmarks/speed.py [--images 16] [--steps 128] [--repeats 3]
"""
import argparse
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import saliency.core as pair  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfpath  # noqa: E402
from tfpath.datasets import load_mnist_subset  # noqa: E402
from tfpath.zoo import small_cnn  # noqa: E402

# PAIR's Guided IG needs a NumPy-2 shim; it lives with the tests, never in tfpath
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests"))
from pair_oracle import keras_style_call_model_function, numpy2_shim_for_pair_guided_ig  # noqa: E402,E501


def timed(fn, repeats):
    fn()                                               # warm-up: tracing, caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-pair-guided", action="store_true",
                        help="skip PAIR Guided IG (the slowest)")
    args = parser.parse_args(argv)

    split = load_mnist_subset()
    x = split.x_test[:args.images]
    classes = split.y_test[:args.images].astype(np.int32)
    model = small_cnn((28, 28, 1), 10)
    mf = tfpath.ModelFunction(model, target="logit")
    n_points = args.images * args.steps

    points = tf.constant(np.repeat(x, args.steps, axis=0))
    point_classes = tf.constant(np.repeat(classes, args.steps))
    limit_fn = tf.function(mf.value_and_gradient)
    results = {"limit: one batched gradient over all points":
               timed(lambda: [t.numpy() for t in limit_fn(points, point_classes)], args.repeats)}

    ig, gig = tfpath.IntegratedGradients(), tfpath.GuidedIG()
    batch_args = {"class_idx": classes}
    results["tfpath IG"] = timed(
        lambda: ig.GetMaskBatch(x, mf, batch_args, x_steps=args.steps), args.repeats)
    results["tfpath IG + IDGI"] = timed(
        lambda: ig.GetMaskBatch(x, mf, batch_args, x_steps=args.steps, integrator="idgi"),
        args.repeats)
    results["tfpath Guided IG"] = timed(
        lambda: gig.GetMaskBatch(x, mf, batch_args, x_steps=args.steps), args.repeats)
    results["tfpath Guided IG + IDGI"] = timed(
        lambda: gig.GetMaskBatch(x, mf, batch_args, x_steps=args.steps, integrator="idgi"),
        args.repeats)

    cmf = keras_style_call_model_function(model)
    results["PAIR IG (batch_size=steps)"] = timed(lambda: [
        pair.IntegratedGradients().GetMask(x[i], cmf, {"class_idx": int(classes[i])},
                                           x_steps=args.steps, batch_size=args.steps)
        for i in range(args.images)], args.repeats)
    if not args.skip_pair_guided:
        with numpy2_shim_for_pair_guided_ig():
            results["PAIR Guided IG (NumPy shim)"] = timed(lambda: [
                pair.GuidedIG().GetMask(x[i], cmf, {"class_idx": int(classes[i])},
                                        x_steps=args.steps)
                for i in range(args.images)], 1)

    limit = results["limit: one batched gradient over all points"]
    print(f"{args.images} images × {args.steps} steps = {n_points} points, small CNN "
          f"(28×28×1), {tf.config.threading.get_intra_op_parallelism_threads() or 'all'} "
          f"intra-op threads, {os.cpu_count()} cores")
    print(f"{'method':45s} {'seconds':>9s} {'× limit':>9s}")
    for name, seconds in results.items():
        print(f"{name:45s} {seconds:9.3f} {seconds / limit:9.2f}")
    return results


if __name__ == "__main__":
    main()

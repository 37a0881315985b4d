"""``tfpath demo``: the offline demo (:func:`tfpath.demo.run_demo`): no download; a small CNN
trained once on scikit-learn digits (cached); a PNG gallery of the path methods with and without
IDGI; a table of convergence deltas and times on stdout.
"""
from __future__ import annotations

from pathlib import Path

from tfpath.cli.common import CLIError


def demo(args):
    """Runs ``tfpath demo``; prints the tables; returns :func:`tfpath.demo.run_demo`'s dict.

    Args:
      args: the parsed ``argparse.Namespace`` of the ``demo`` subcommand.

    Returns:
      The dict of :func:`tfpath.demo.run_demo`.

    Raises:
      CLIError: ``--out`` exists and is not a directory.
    """
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CLIError("--out", f"{out} exists and is not a directory")
    from tfpath.demo import TABLE_COLUMNS, format_table, run_demo
    result = run_demo(out, quick=args.quick, progress=not args.no_progress)
    print(f"Convergence delta (sum of mask - (F(x) - F(x'))) and time per method on "
          f"{len(result['examples'])} test digits (test accuracy {result['test_accuracy']:.3f}); "
          "'first call' includes tf.function tracing:")
    print(format_table(result["rows"], TABLE_COLUMNS))
    if result["uncertainty_rows"]:
        print()
        print("Uncertainty attributions:")
        print(format_table(result["uncertainty_rows"]))
    print()
    for name, path in result["paths"].items():
        if path is not None:
            print(f"{name}: {path}")
    return result


def add_parser(sub):
    """Adds the ``demo`` subcommand to ``sub`` (argparse subparsers)."""
    de = sub.add_parser("demo", help="offline demo on scikit-learn digits",
                        description="Train (once, cached) a small CNN on scikit-learn digits and "
                                    "compare path methods with and without IDGI.")
    de.add_argument("--out", default="tfpath_demo", help="output directory (default "
                                                         "./tfpath_demo)")
    de.add_argument("--quick", action="store_true", help="fewer digits and steps (seconds)")
    de.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    de.set_defaults(func=demo)

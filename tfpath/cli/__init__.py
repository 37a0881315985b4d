"""The ``tfpath`` command.

::

    tfpath explain --model M.keras --image I.png --method ig|blur-ig|guided-ig|agi [--idgi]
                   [--class N] [--steps N] [--target logit|probability]
                   [--preprocess NAME|LOW,HIGH | --input-range LOW,HIGH] --out heat.png
    tfpath explain-dataset --model M.keras (--images DIR | --tfds NAME) --method ...
                   --out OUT [--resume] [--shard i/n] [--metrics insertion,deletion]
    tfpath evaluate OUT [OUT ...] [--metrics insertion,deletion,diffid,aic,sic]
    tfpath demo [--out DIR] [--quick]

* ``explain`` (:mod:`tfpath.cli.explain`): one image, a heatmap PNG, the convergence delta.
* ``explain-dataset`` / ``evaluate`` (:mod:`tfpath.cli.dataset`): every image of a folder or a
  TFDS split into resumable shards (:func:`tfpath.explain_dataset`), and their metrics table.
* ``demo`` (:mod:`tfpath.cli.demo`): the offline demo on scikit-learn digits.

Bad input (missing file, a file that is not a Keras model, unknown method, class out of range, a
target the model cannot give, an image that cannot be converted to the model's input, an output
folder of another run) exits with status 2 and one line ``tfpath <command>: error: <argument>:
<what is wrong>`` on stderr, without a traceback. ``tfpath --help`` and argument errors do not
import TensorFlow (:mod:`tfpath.cli.common`).
"""
from __future__ import annotations

import sys

from tfpath.cli import dataset, demo, explain
from tfpath.cli.common import (EXIT_USAGE, CLIError, Parser, Status, join_option_values,
                               load_image)

__all__ = ["main", "build_parser", "CLIError", "Status", "join_option_values", "load_image"]


def build_parser():
    """The ``tfpath`` argument parser (subcommands ``explain``, ``explain-dataset``,
    ``evaluate`` and ``demo``).

    Returns:
      ``argparse.ArgumentParser``.
    """
    parser = Parser(prog="tfpath", description="Path attributions (IG, Blur IG, Guided IG, "
                                               "IDGI) for Keras models.")
    sub = parser.add_subparsers(dest="command", metavar="{explain,explain-dataset,evaluate,demo}",
                                parser_class=Parser)
    sub.required = True
    explain.add_parser(sub)
    dataset.add_parsers(sub)
    demo.add_parser(sub)
    return parser


def main(argv=None):
    """Entry point of the ``tfpath`` command.

    Args:
      argv: arguments without the program name (default ``sys.argv[1:]``).

    Returns:
      0 on success (also the process exit status when run as a script).

    Raises:
      SystemExit: status 2 on bad input, after printing one line naming the argument.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except CLIError as e:
        sys.stderr.write(f"tfpath {args.command}: error: {e}\n")
        raise SystemExit(EXIT_USAGE) from None
    return 0


if __name__ == "__main__":
    sys.exit(main())

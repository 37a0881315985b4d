"""tfpath: path attributions of predictions and of predictive uncertainty for TensorFlow/Keras."""
from setuptools import find_packages, setup

setup(
    name="tfpath",
    version="0.1.0",
    description=(
        "Path attributions (IG, Blur IG, Guided IG, IDGI, ...) of scores and of "
        "predictive uncertainty for TensorFlow/Keras, speaking PAIR saliency's API."
    ),
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["tfpath", "tfpath.*"]),
    install_requires=[
        "tensorflow>=2.16",
        "tensorflow-probability",
        "tf_keras",
        "saliency",
        "numpy",
        "scipy",
        "scikit-learn",
        "scikit-image",
        "mlxtend",
        "pillow",
        "matplotlib",
    ],
    extras_require={# lime and shap: oracles of the tests of benchmarks/entropy_comparators.py
                    # (LIME's regression, exact Shapley values), and shap.GradientExplainer in
                    # benchmarks/speed.py
                    "test": ["pytest", "pytest-xdist", "lime", "shap"],
                    "bench": ["lime", "shap"]},
    entry_points={"console_scripts": ["tfpath=tfpath.cli:main"]},
)

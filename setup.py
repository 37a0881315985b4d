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
    license="Apache-2.0",
    classifiers=[
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.11",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
    # The lower bounds are the versions the test suite was run with (README: "Tested with");
    # NumPy, SciPy, scikit-learn and Keras of these versions need Python 3.11.
    python_requires=">=3.11",
    packages=find_packages(include=["tfpath", "tfpath.*"]),
    install_requires=[
        "tensorflow>=2.21",
        "keras>=3.15",
        "tf_keras>=2.21",
        "tensorflow-probability>=0.25",
        "saliency>=0.2.1",
        "numpy>=2.4",
        "scipy>=1.17",
        "scikit-learn>=1.9",
        "scikit-image>=0.26",
        "mlxtend>=0.25",
        "pillow>=13.0",
        "matplotlib>=3.11",
        "tqdm>=4.70",
    ],
    extras_require={# lime and shap: oracles of the tests of benchmarks/entropy_comparators.py
                    # (LIME's regression, exact Shapley values), and shap.GradientExplainer in
                    # benchmarks/speed.py; nbclient, nbformat and ipykernel: the tests execute
                    # the notebooks; tensorflow-datasets: tfpath explain-dataset --tfds (the
                    # test mocks a split)
                    "test": ["pytest>=9.0", "pytest-xdist>=3.8", "lime>=0.2.0.1", "shap>=0.51",
                             "nbclient", "nbformat", "ipykernel", "tensorflow-datasets>=4.9"],
                    "tfds": ["tensorflow-datasets>=4.9"],
                    "bench": ["lime>=0.2.0.1", "shap>=0.51"]},
    entry_points={"console_scripts": ["tfpath=tfpath.cli:main"]},
)

"""Paths from a baseline to the input (:class:`tfpath.protocols.Path`).

* :class:`StraightPath`: IG, Expected Gradients, LPI (α per row);
* :class:`BlurPath`: Blur IG's scale space (toward each baseline);
* :class:`GuidedPath`: Guided IG's adaptive path;
* :class:`AdversarialPath`: AGI's adversarial path (reversed: it finds its baseline);
* :class:`GradPath`: IG²'s path down a representation distance (reversed, like AGI's);
* :class:`GenerativePath`: Generative IG's decoded latent line chained with a straight tail.

Paths are frozen dataclasses: their fields are the configuration the engine's compiled
programs are cached by.
"""
from tfpath.paths.adversarial import AdversarialPath
from tfpath.paths.blur import BlurPath, gaussian_blur
from tfpath.paths.guided import GuidedPath
from tfpath.paths.generative import GenerativePath
from tfpath.paths.gradient import GradPath
from tfpath.paths.straight import StraightPath

__all__ = ["StraightPath", "BlurPath", "GuidedPath", "AdversarialPath", "GradPath",
           "GenerativePath", "gaussian_blur"]

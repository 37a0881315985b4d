"""User-facing methods: thin compositions of target × baseline × path × integrator."""
from tfpath.methods.base import PathDetails, TFPathSaliency
from tfpath.methods.blur_ig import BlurIG
from tfpath.methods.gradients import GradientSaliency
from tfpath.methods.guided_ig import GuidedIG
from tfpath.methods.integrated_gradients import IntegratedGradients

__all__ = ["PathDetails", "TFPathSaliency", "GradientSaliency", "IntegratedGradients", "BlurIG",
           "GuidedIG"]

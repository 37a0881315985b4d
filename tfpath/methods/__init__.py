"""User-facing methods: thin compositions of target × baseline × path × integrator."""
from tfpath.methods.agi import AGI
from tfpath.methods.base import PathDetails, Plan, TFPathSaliency
from tfpath.methods.blur_ig import BlurIG
from tfpath.methods.expected_gradients import ExpectedGradients
from tfpath.methods.generative_ig import GenerativeIG, GenerativeIGDetails
from tfpath.methods.gradients import GradientSaliency
from tfpath.methods.guided_ig import GuidedIG
from tfpath.methods.ig2 import IG2, IG2Details
from tfpath.methods.integrated_gradients import IntegratedGradients
from tfpath.methods.lpi import LPI
from tfpath.methods.noise import NoiseTunnel

__all__ = ["AGI", "PathDetails", "Plan", "TFPathSaliency", "GradientSaliency",
           "IntegratedGradients", "BlurIG", "GuidedIG", "ExpectedGradients", "LPI",
           "NoiseTunnel", "IG2", "IG2Details", "GenerativeIG", "GenerativeIGDetails"]

"""Samplers, guidance and long-video drivers (sections 2 and 3.1)."""

from kvdm.samplers.ancestral import AncestralSampler
from kvdm.samplers.conditioning import CONDITIONING_METHODS
from kvdm.samplers.ddim import DDIMSampler
from kvdm.samplers.drivers import anchored_sample
from kvdm.samplers.drivers import extend
from kvdm.samplers.drivers import interpolate
from kvdm.samplers.drivers import predict
from kvdm.samplers.drivers import sample
from kvdm.samplers.drivers import upsample
from kvdm.samplers.guidance import apply_classifier_free_guidance
from kvdm.samplers.guidance import average_downsample
from kvdm.samplers.guidance import bilinear_downsample
from kvdm.samplers.guidance import classifier_free_guidance
from kvdm.samplers.guidance import reconstruction_guidance
from kvdm.samplers.guidance import reconstruction_loss
from kvdm.samplers.predictor_corrector import PredictorCorrectorSampler
from kvdm.samplers.registry import SAMPLERS
from kvdm.samplers.registry import get_sampler
from kvdm.samplers.sampler import Sampler

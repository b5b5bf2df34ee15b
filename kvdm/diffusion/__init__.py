"""Continuous-time Gaussian diffusion: schedules, parameterizations, training."""

from kvdm.diffusion.losses import LOSS_WEIGHTINGS
from kvdm.diffusion.losses import get_loss_weighting
from kvdm.diffusion.losses import loss_weight
from kvdm.diffusion.losses import weighted_mse
from kvdm.diffusion.parameterization import alpha_sigma
from kvdm.diffusion.parameterization import diffuse
from kvdm.diffusion.parameterization import from_x
from kvdm.diffusion.parameterization import target
from kvdm.diffusion.parameterization import to_x_eps
from kvdm.diffusion.schedules import CosineSchedule
from kvdm.diffusion.schedules import LogSNRSchedule
from kvdm.diffusion.schedules import get_schedule
from kvdm.diffusion.video_diffusion import VideoDiffusion

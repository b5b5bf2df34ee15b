"""Typed, validated recipes: data / model / diffusion / train / sample."""

from kvdm.config.data_config import DATASETS
from kvdm.config.data_config import DataConfig
from kvdm.config.diffusion_config import PREDICTION_TYPES
from kvdm.config.diffusion_config import DiffusionConfig
from kvdm.config.fields import RecipeError
from kvdm.config.fields import describe
from kvdm.config.model_config import ModelConfig
from kvdm.config.recipe import Recipe
from kvdm.config.recipe import apply_overrides
from kvdm.config.recipe import check_image_size
from kvdm.config.recipe import load_recipe
from kvdm.config.recipe import parse_override
from kvdm.config.sample_config import CONDITIONING_METHODS
from kvdm.config.sample_config import SAMPLERS
from kvdm.config.sample_config import SampleConfig
from kvdm.config.train_config import BACKENDS
from kvdm.config.train_config import TrainConfig

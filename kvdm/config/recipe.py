"""A complete training and sampling recipe, read from YAML."""

import dataclasses
import os
import typing

import yaml

from kvdm.config.data_config import DataConfig
from kvdm.config.diffusion_config import DiffusionConfig
from kvdm.config.fields import RecipeError
from kvdm.config.fields import _did_you_mean
from kvdm.config.model_config import ModelConfig
from kvdm.config.sample_config import SampleConfig
from kvdm.config.train_config import TrainConfig


def check_image_size(image_size, channel_multipliers, key="data.image_size"):
    """Checks that `image_size` halves cleanly at every U-Net level.

    Args:
        image_size: int. Frame height and width.
        channel_multipliers: sequence of int. One entry per resolution level;
            the network downsamples by 2 between levels.
        key: str. Name used in the error message.
    """
    factor = 2 ** (len(channel_multipliers) - 1)
    if image_size % factor:
        raise RecipeError(
            f"`{key}` must be divisible by 2**(levels - 1) = {factor} for "
            f"{len(channel_multipliers)} levels "
            f"(channel_multipliers={list(channel_multipliers)}). "
            f"Received: {key}={image_size}"
        )


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Everything needed to train and sample one model, as data.

    Args:
        data: `DataConfig`.
        model: `ModelConfig`.
        diffusion: `DiffusionConfig`.
        train: `TrainConfig`.
        sample: `SampleConfig`.

    Example:

    >>> recipe = load_recipe("recipes/moving_digits.yaml",
    ...                      overrides=["train.steps=100"])
    >>> recipe.train.steps
    100
    """

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(
        default_factory=lambda: ModelConfig(preset="tiny")
    )
    diffusion: DiffusionConfig = dataclasses.field(
        default_factory=DiffusionConfig
    )
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    sample: SampleConfig = dataclasses.field(default_factory=SampleConfig)

    def __post_init__(self):
        for name, cls in section_classes().items():
            value = getattr(self, name)
            if not isinstance(value, cls):
                raise RecipeError(
                    f"`{name}` must be a {cls.__name__}. "
                    f"Received: {name}={value!r}"
                )
        if self.model.channel_multipliers is not None:
            check_image_size(self.data.image_size,
                             self.model.channel_multipliers)
        if self.sample.prompts is not None and self.model.text_encoder is None:
            raise RecipeError(
                "`sample.prompts` needs a text-conditioned model: set "
                "`model.text_encoder`, or remove the prompts. "
                f"Received: sample.prompts={list(self.sample.prompts)!r}"
            )
        if self.data.independent_images and self.diffusion.num_image_frames == 0:
            raise RecipeError(
                "`data.independent_images` needs image frames to draw: set "
                "`diffusion.num_image_frames`. Received: "
                "diffusion.num_image_frames=0"
            )
        if self.model.frames_as_channels:
            self._check_frames_as_channels()
        context = self.sample.context_frames
        if context is not None and context >= self.num_sample_frames:
            raise RecipeError(
                "`sample.context_frames` must be fewer than the sampled "
                f"frames ({self.num_sample_frames}: `sample.num_frames`, else "
                f"`data.num_frames`). Received: sample.context_frames={context}"
            )

    def _check_frames_as_channels(self):
        """A network of stacked frames takes whole videos of one length."""
        if self.diffusion.num_image_frames:
            raise RecipeError(
                "`model.frames_as_channels` denoises a video as one stack of "
                "frames and cannot take appended image frames: set "
                "`diffusion.num_image_frames` to 0. Received: "
                f"diffusion.num_image_frames={self.diffusion.num_image_frames}"
            )
        if self.num_sample_frames != self.data.num_frames:
            raise RecipeError(
                "`model.frames_as_channels` samples videos of the "
                f"{self.data.num_frames} frames it trains on "
                "(`data.num_frames`); longer videos come from `kvdm extend`. "
                f"Received: sample.num_frames={self.sample.num_frames}"
            )

    @property
    def num_sample_frames(self):
        """Frames per sampled video (`sample.num_frames` or the data's)."""
        return self.sample.num_frames or self.data.num_frames

    @classmethod
    def from_dict(cls, values):
        """Builds a recipe from nested mappings; missing sections default."""
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise RecipeError(
                "A recipe must be a mapping with sections "
                f"{section_names()}. Received: recipe={values!r}"
            )
        for key in values:
            if key not in section_names():
                raise RecipeError(
                    f"Unknown recipe section `{key}`."
                    f"{_did_you_mean(key, section_names())} "
                    f"Valid sections: {section_names()}. "
                    f"Received: {key}={values[key]!r}"
                )
        sections = {
            name: section_cls.from_dict(values[name])
            for name, section_cls in section_classes().items()
            if name in values
        }
        return cls(**sections)

    def to_dict(self):
        """Returns nested plain data; `Recipe.from_dict` reads it back."""
        return {
            f.name: getattr(self, f.name).to_dict()
            for f in dataclasses.fields(self)
        }

    def to_yaml(self):
        """Returns the recipe as YAML text."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def save(self, path):
        """Writes the recipe to a YAML file (atomically)."""
        tmp = f"{path}.tmp"
        with open(tmp, "w") as f:
            f.write(self.to_yaml())
        os.replace(tmp, path)

    def replace(self, **sections):
        """Returns a copy with whole sections replaced."""
        return dataclasses.replace(self, **sections)

    def with_overrides(self, overrides):
        """Returns a copy with `section.key=value` overrides applied."""
        return Recipe.from_dict(apply_overrides(self.to_dict(), overrides))


def section_classes():
    """Returns `{section name: section class}` in recipe order."""
    return typing.get_type_hints(Recipe)


def section_names():
    """Returns the recipe's section names in order."""
    return list(section_classes())


def parse_override(text):
    """Parses `"train.steps=100"` into `("train", "steps", 100)`.

    The value is read as YAML, so `[1, 2]`, `null`, `true` and `3.0e-4`
    mean a list, None, a boolean and a number.
    """
    if not isinstance(text, str) or "=" not in text:
        raise RecipeError(
            "An override must look like `section.key=value`, e.g. "
            f"`train.steps=100`. Received: override={text!r}"
        )
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if len(parts) != 2 or not all(parts):
        raise RecipeError(
            "An override key must be `section.key`, e.g. `train.steps`. "
            f"Received: override={text!r}"
        )
    section, name = parts
    if section not in section_names():
        raise RecipeError(
            f"Unknown recipe section `{section}`."
            f"{_did_you_mean(section, section_names())} Valid sections: "
            f"{section_names()}. Received: override={text!r}"
        )
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as error:
        raise RecipeError(
            f"The value of `{key}` is not valid YAML ({error.problem}). "
            f"Received: override={text!r}"
        ) from None
    return section, name, value


def apply_overrides(values, overrides):
    """Returns nested recipe data with overrides applied (a new dict)."""
    values = {
        k: dict(v) if isinstance(v, dict) else v
        for k, v in (values or {}).items()
    }
    for text in overrides or ():
        section, name, value = parse_override(text)
        if values.get(section) is None:
            values[section] = {}
        if not isinstance(values[section], dict):
            raise RecipeError(
                f"Recipe section `{section}` must be a mapping of key: value. "
                f"Received: {section}={values[section]!r}"
            )
        values[section][name] = value
    return values


def load_recipe(path, overrides=()):
    """Reads, overrides and validates a YAML recipe.

    Args:
        path: str or path-like. The YAML file.
        overrides: sequence of `"section.key=value"` strings applied after
            reading the file, e.g. `["train.steps=100"]`.

    Returns:
        A validated `Recipe`.

    Raises:
        FileNotFoundError: if `path` does not exist.
        RecipeError: (a `ValueError`) naming the key and value at fault.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Recipe file not found: {path}")
    with open(path) as f:
        try:
            values = yaml.safe_load(f)
        except yaml.YAMLError as error:
            raise RecipeError(
                f"Recipe {path} is not valid YAML: {error}"
            ) from None
    if values is not None and not isinstance(values, dict):
        raise RecipeError(
            f"Recipe {path} must be a mapping with sections "
            f"{section_names()}. Received: recipe={values!r}"
        )
    return Recipe.from_dict(apply_overrides(values, overrides))

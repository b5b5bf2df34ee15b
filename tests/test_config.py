import dataclasses
import pathlib

import pytest
import yaml

from kvdm.config import DataConfig
from kvdm.config import ModelConfig
from kvdm.config import Recipe
from kvdm.config import RecipeError
from kvdm.config import SampleConfig
from kvdm.config import TrainConfig
from kvdm.config import check_image_size
from kvdm.config import load_recipe
from kvdm.config import parse_override

RECIPES = sorted(
    (pathlib.Path(__file__).parent.parent / "recipes").glob("*.yaml")
)

SMALL = {
    "data": {"name": "moving_digits", "num_frames": 4, "image_size": 16},
    "model": {
        "base_channels": 8,
        "channel_multipliers": [1, 2],
        "attention_resolutions": [8],
    },
    "train": {"steps": 3, "batch_size": 2},
}


def write_recipe(tmp_path, values, name="recipe.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(values))
    return path


def test_recipes_folder_is_not_empty():
    names = {p.stem for p in RECIPES}
    assert {"bair", "ucf101", "kinetics600", "text2video_small",
            "text2video_large", "text2video_large_frameskip4",
            "text2video_large_128", "moving_digits"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_every_recipe_loads_and_round_trips(path, tmp_path):
    recipe = load_recipe(path)
    assert isinstance(recipe, Recipe)
    saved = tmp_path / "saved.yaml"
    recipe.save(saved)
    assert load_recipe(saved) == recipe
    # Every key written in the file survives parsing unchanged.
    raw = yaml.safe_load(path.read_text())
    written = recipe.to_dict()
    for section, values in raw.items():
        for key, value in values.items():
            assert written[section][key] == value, f"{section}.{key}"


def test_paper_values_in_recipes():
    bair = load_recipe(RECIPES[0].parent / "bair.yaml")
    assert bair.diffusion.prediction_type == "v"
    assert bair.train.learning_rate == 2e-4
    assert bair.train.weight_decay == 0.01
    assert bair.sample.reconstruction_weight == 50.0
    assert bair.data.flip is True
    ucf = load_recipe(RECIPES[0].parent / "ucf101.yaml")
    assert (ucf.train.steps, ucf.train.beta2, ucf.sample.gamma) == (
        60000, 0.99, 0.1)
    # All 13,320 videos: both TFDS splits.
    assert ucf.data.split == "train+test"
    assert bair.sample.context_frames == 1
    kinetics = load_recipe(RECIPES[0].parent / "kinetics600.yaml")
    assert kinetics.sample.context_frames == 5
    assert kinetics.num_sample_frames - kinetics.sample.context_frames == 11


@pytest.mark.parametrize("name, frames, size, frame_skip, preset, steps, lr, "
                         "image_frames", [
    ("text2video_large", 16, 64, 1, "t2v_large", 700000, 3e-4, 8),
    ("text2video_large_frameskip4", 16, 64, 4, "t2v_large", 700000, 3e-4, 8),
    ("text2video_large_128", 9, 128, 1, "t2v_large_128", 800000, 2e-4, 7),
])
def test_large_text_to_video_recipes(name, frames, size, frame_skip, preset,
                                     steps, lr, image_frames):
    recipe = load_recipe(RECIPES[0].parent / f"{name}.yaml")
    data, train, sample = recipe.data, recipe.train, recipe.sample
    assert (data.num_frames, data.image_size, data.frame_skip) == (
        frames, size, frame_skip)
    assert recipe.model.preset == preset
    assert (train.steps, train.learning_rate, train.batch_size) == (
        steps, lr, 128)
    assert (train.beta2, train.weight_decay, train.ema_decay) == (
        0.99, 0.0, 0.9999)
    assert recipe.diffusion.prediction_type == "eps"
    assert recipe.diffusion.num_image_frames == image_frames
    assert (sample.sampler, sample.num_steps, sample.gamma) == (
        "ancestral", 256, 0.3)
    assert recipe.num_sample_frames == frames


def test_sample_fields_added_for_sampling_and_data_download():
    sample = SampleConfig()
    assert sample.clip_denoised is False and sample.context_frames is None
    assert DataConfig().download is False
    assert Recipe.from_dict(
        {"sample": {"clip_denoised": True}}).sample.clip_denoised is True
    with pytest.raises(RecipeError, match="sample.clip_denoised"):
        SampleConfig(clip_denoised="yes")
    with pytest.raises(RecipeError, match="sample.context_frames=0"):
        SampleConfig(context_frames=0)
    with pytest.raises(RecipeError, match="data.download"):
        DataConfig(download=1)
    # Context frames must leave frames to generate.
    with pytest.raises(RecipeError, match="sample.context_frames=16"):
        Recipe.from_dict({"sample": {"context_frames": 16}})
    with pytest.raises(RecipeError, match="sample.context_frames=4"):
        Recipe.from_dict({"data": {"num_frames": 8},
                          "sample": {"context_frames": 4, "num_frames": 4}})
    assert Recipe.from_dict(
        {"sample": {"context_frames": 15}}).sample.context_frames == 15


def test_round_trip_to_dict_and_yaml(tmp_path):
    recipe = Recipe.from_dict(SMALL)
    assert Recipe.from_dict(recipe.to_dict()) == recipe
    assert Recipe.from_dict(yaml.safe_load(recipe.to_yaml())) == recipe
    as_dict = recipe.to_dict()
    # Lists are lists in the written form, tuples inside the frozen config.
    assert as_dict["model"]["channel_multipliers"] == [1, 2]
    assert recipe.model.channel_multipliers == (1, 2)
    assert set(as_dict) == {"data", "model", "diffusion", "train", "sample"}


def test_sections_are_frozen():
    recipe = Recipe.from_dict(SMALL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.train.steps = 5


def test_overrides(tmp_path):
    path = write_recipe(tmp_path, SMALL)
    recipe = load_recipe(path, overrides=[
        "train.steps=100",
        "model.channel_multipliers=[1, 2, 2]",
        "train.learning_rate=3e-4",
        "train.grad_clip=null",
        "sample.sampler=ddim",
    ])
    assert recipe.train.steps == 100
    assert recipe.model.channel_multipliers == (1, 2, 2)
    assert recipe.train.learning_rate == pytest.approx(3e-4)
    assert recipe.train.grad_clip is None
    assert recipe.sample.sampler == "ddim"
    # The file itself is unchanged.
    assert load_recipe(path).train.steps == 3


def test_missing_sections_use_defaults(tmp_path):
    recipe = load_recipe(write_recipe(tmp_path, {"train": {"steps": 7}}))
    assert recipe.train.steps == 7
    assert recipe.sample == SampleConfig()
    assert recipe.num_sample_frames == recipe.data.num_frames


BAD_OVERRIDES = [
    # (override, words the message must contain)
    ("train.stpes=3", ["train.stpes", "Did you mean 'steps'", "3"]),
    ("trian.steps=3", ["trian", "Did you mean 'train'"]),
    ("train.steps=-5", ["train.steps", ">= 1", "-5"]),
    ("train.steps=1.5", ["train.steps", "integer", "1.5"]),
    ("train.steps=abc", ["train.steps", "integer", "abc"]),
    ("train.mixed_precision=1", ["train.mixed_precision", "true or false"]),
    ("sample.gamma=1.5", ["sample.gamma", "<= 1.0", "1.5"]),
    ("sample.gamma=-0.1", ["sample.gamma", ">= 0.0", "-0.1"]),
    ("data.name=imagenet", ["data.name", "moving_digits", "imagenet"]),
    ("sample.sampler=ddpm", ["sample.sampler", "Did you mean 'ddim'",
                             "ddpm"]),
    ("diffusion.prediction_type=noise", ["diffusion.prediction_type",
                                         "'eps'", "noise"]),
    ("diffusion.condition_dropout=1.0", ["diffusion.condition_dropout",
                                         "< 1.0"]),
    ("diffusion.logsnr_min=30", ["diffusion.logsnr_min", "30"]),
    ("sample.conditioning=magic", ["sample.conditioning", "replacement"]),
    ("train.backend=numpy", ["train.backend", "torch", "numpy"]),
    ("model.channel_multipliers='1,2'", ["model.channel_multipliers",
                                         "a list of int", "1,2"]),
    ("model.channel_multipliers=[1, 0]", ["model.channel_multipliers",
                                          ">= 1", "0"]),
    ("data.image_size=17", ["data.image_size", "divisible", "17"]),
    ("train.learning_rate=0", ["train.learning_rate", "> 0.0"]),
    ("train.ema_decay=1.0", ["train.ema_decay", "< 1.0"]),
    ("train.steps", ["section.key=value", "train.steps"]),
    ("steps=4", ["section.key", "steps=4"]),
    ("train.steps=[1", ["train.steps", "not valid YAML"]),
    ("data.name=video_folder", ["data.path", "video_folder"]),
    ("data.num_digits=3", ["data.num_digits", "[1, 2]", "3"]),
]


@pytest.mark.parametrize("override,words", BAD_OVERRIDES,
                         ids=[b[0] for b in BAD_OVERRIDES])
def test_bad_values_name_key_and_value(tmp_path, override, words):
    path = write_recipe(tmp_path, SMALL)
    with pytest.raises(RecipeError) as info:
        load_recipe(path, overrides=[override])
    message = str(info.value)
    for word in words:
        assert word in message, (word, message)
    assert "Received:" in message


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.yaml"):
        load_recipe(tmp_path / "nothere.yaml")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(_write(tmp_path / "b.yaml", "data: [1, 2"))
    with pytest.raises(RecipeError, match="must be a mapping"):
        load_recipe(_write(tmp_path / "c.yaml", "- 1\n- 2\n"))
    with pytest.raises(RecipeError, match="Unknown recipe section `optim`"):
        load_recipe(write_recipe(tmp_path, {"optim": {"lr": 1}}))
    with pytest.raises(RecipeError, match="section `train` must be a mapping"):
        load_recipe(write_recipe(tmp_path, {"train": 5}))


def _write(path, text):
    path.write_text(text)
    return path


def test_model_needs_preset_or_arguments():
    with pytest.raises(RecipeError, match="model.base_channels"):
        ModelConfig()
    assert ModelConfig(preset="tiny").unet_kwargs() == {}
    config = ModelConfig(base_channels=8, channel_multipliers=[1, 2])
    assert config.unet_kwargs() == {
        "base_channels": 8, "channel_multipliers": [1, 2]}


def test_python_construction_is_validated_too():
    with pytest.raises(RecipeError, match="train.batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(RecipeError, match="`data` must be a DataConfig"):
        Recipe(data={"name": "moving_digits"})
    assert DataConfig(num_frames=4).replace(num_frames=6).num_frames == 6
    with pytest.raises(RecipeError, match="data.num_frames"):
        DataConfig().replace(num_frames=0)


def test_floats_accept_integers_and_exponent_strings():
    config = TrainConfig(learning_rate=1, weight_decay="1e-2")
    assert config.learning_rate == 1.0 and isinstance(
        config.learning_rate, float)
    assert config.weight_decay == pytest.approx(0.01)


def test_check_image_size():
    check_image_size(32, [1, 2, 2])
    with pytest.raises(RecipeError, match="divisible by 2\\*\\*\\(levels - 1\\) = 4"):
        check_image_size(30, [1, 2, 2])


def test_parse_override_reads_yaml():
    assert parse_override("model.attention_resolutions=[8, 16]") == (
        "model", "attention_resolutions", [8, 16])
    assert parse_override("train.jit_compile=false") == (
        "train", "jit_compile", False)
    assert parse_override("data.path=a=b") == ("data", "path", "a=b")


def test_independent_images_need_image_frames_and_an_own_source():
    recipe = Recipe.from_dict({"data": {"independent_images": True},
                               "diffusion": {"num_image_frames": 4}})
    assert recipe.data.independent_images is True
    with pytest.raises(RecipeError, match="diffusion.num_image_frames=0"):
        Recipe.from_dict({"data": {"independent_images": True}})
    with pytest.raises(RecipeError, match="data.name='ucf101'"):
        DataConfig(name="ucf101", independent_images=True)
    with pytest.raises(RecipeError, match="data.name='video_folder'"):
        DataConfig(name="video_folder", path="videos", independent_images=True)


def test_frames_as_channels_takes_whole_videos_of_one_length():
    stacked = dict(SMALL, model=dict(SMALL["model"], frames_as_channels=True))
    recipe = Recipe.from_dict(stacked)
    assert recipe.model.unet_kwargs()["frames_as_channels"] is True
    with pytest.raises(RecipeError, match="diffusion.num_image_frames=2"):
        Recipe.from_dict(dict(stacked, diffusion={"num_image_frames": 2}))
    with pytest.raises(RecipeError, match="sample.num_frames=8"):
        Recipe.from_dict(dict(stacked, sample={"num_frames": 8}))

"""Text-conditioned training and sampling: captions through the pipeline,
condition dropout, prompts at sampling, text presets."""

import os
import pathlib
import shutil

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from kvdm import presets
from kvdm.cli.main import cli
from kvdm.config import Recipe
from kvdm.config import RecipeError
from kvdm.config import load_recipe
from kvdm.training import builders

RECIPES = pathlib.Path(__file__).resolve().parents[1] / "recipes"
PROMPTS = ["the digit 7 moves left", "the digit 1 moves up"]
TEXT_RECIPE = {
    "data": {"name": "moving_digits", "num_frames": 4, "image_size": 16},
    "model": {"preset": "tiny", "channel_multipliers": [1],
              "attention_resolutions": [16], "num_mlp_layers": 1,
              "pooling_heads": 4, "text_encoder": "minilm_l6"},
    "diffusion": {"condition_dropout": 0.5},
    "train": {"steps": 2, "batch_size": 2, "checkpoint_every": 2,
              "sample_every": 0, "log_every": 1, "jit_compile": False},
    "sample": {"sampler": "ddim", "num_steps": 2, "num_videos": 1,
               "guidance_weight": 2.0, "prompts": PROMPTS[:1]},
}
# One digit, eight directions.
NUM_CAPTIONS = 80


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    """The tiny text recipe trained with `kvdm train` (current backend)."""
    directory = tmp_path_factory.mktemp("text_run")
    recipe = directory / "text.yaml"
    recipe.write_text(yaml.safe_dump(TEXT_RECIPE))
    folder = directory / "run"
    result = CliRunner().invoke(cli, ["train", str(recipe), "--output",
                                      str(folder)])
    assert result.exit_code == 0, result.output
    return folder, result.output


# On TensorFlow in the default pass; on JAX and PyTorch in the slow pass
# (JAX compiles the training step for a while on two cores).
@pytest.mark.backends_slow
def test_text_recipe_trains_and_samples_from_prompts(text_run):
    import keras

    from kvdm.training import generate
    from kvdm.training import load_for_sampling
    from kvdm.training.caption_cache import CACHE_FILE
    from kvdm.training.caption_cache import get_caption_cache

    folder, output = text_run
    assert "Done: 2 steps." in output
    # Every distinct caption was encoded once, before training, and kept.
    cache = get_caption_cache("minilm_l6", str(folder))
    assert cache.num_encoded == NUM_CAPTIONS
    with np.load(folder / CACHE_FILE) as stored:
        assert len(stored["captions"]) == NUM_CAPTIONS
        assert stored["embeddings"].shape[1] == 384
    assert (folder / "samples" / "step-00000002.gif").is_file()

    run, exported = (load_for_sampling(str(source))
                     for source in (folder, folder / "model.keras"))
    for loaded in (run, exported):
        assert loaded.model.text_encoder == "minilm_l6"
        assert loaded.model.denoiser.condition_dim == 384
        assert loaded.model.condition_dropout == 0.5
    # The exported file holds the run's EMA network, conditioning included.
    z = np.random.default_rng(0).normal(size=(2, 4, 16, 16, 1)).astype("f4")
    condition = np.zeros((2, 3, 384), "float32")
    condition[0] = np.random.default_rng(1).normal(size=(3, 384))
    outputs = [keras.ops.convert_to_numpy(
        loaded.model.denoise(z, np.zeros(2, "f4"), condition))
        for loaded in (run, exported)]
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-5)
    videos = generate(exported.model, exported.recipe, exported.video_shape,
                      prompts=PROMPTS, num_videos=2, seed=1, progress=False)
    assert videos.shape == (4, 4, 16, 16, 1)
    assert np.isfinite(videos).all()
    # Four different noises: the videos differ.
    assert np.abs(videos[0] - videos[1]).max() > 0


def test_pipeline_condition_is_each_caption_embedding():
    import keras

    from kvdm.data import caption_vocabulary
    from kvdm.data import make_dataset
    from kvdm.training.caption_cache import get_caption_cache

    recipe = Recipe.from_dict(TEXT_RECIPE)
    dataset, video_shape = builders.build_dataset(recipe)
    assert video_shape == (4, 16, 16, 1)
    batch = next(iter(dataset))
    assert sorted(batch) == ["condition", "video"]
    captions = next(iter(make_dataset(
        "moving_digits", **builders.dataset_options(recipe))))["caption"]
    cache = get_caption_cache("minilm_l6")
    expected = cache.table([c.decode() for c in captions.numpy()])
    condition = batch["condition"].numpy()
    # Padded to the longest caption of the whole set.
    vocabulary = caption_vocabulary(
        "moving_digits", **builders.dataset_options(recipe))
    assert condition.shape == (2, cache.table(vocabulary).shape[1], 384)
    np.testing.assert_array_equal(condition[:, : expected.shape[1]], expected)
    assert not condition[:, expected.shape[1]:].any()

    model = builders.build_diffusion(recipe, out_channels=1)
    assert model.condition_dropout == 0.5
    assert model.text_encoder == "minilm_l6"
    assert model.denoiser.condition_dim == 384
    # Condition dropout replaces whole rows by the null condition (zeros).
    rows = np.tile(condition, (8, 1, 1))
    dropped = keras.ops.convert_to_numpy(model.drop_condition(rows, seed=3))
    kept = np.array([bool(row.any()) for row in dropped])
    assert 0 < kept.sum() < len(rows)
    np.testing.assert_array_equal(dropped[kept], rows[kept])


def test_text_recipes_are_checked():
    with pytest.raises(RecipeError, match="has none"):
        builders.build_dataset(Recipe.from_dict(dict(
            TEXT_RECIPE, data={"name": "clips", "num_frames": 4,
                               "image_size": 16})))
    mismatch = dict(TEXT_RECIPE, model=dict(TEXT_RECIPE["model"],
                                            condition_dim=100))
    with pytest.raises(RecipeError, match=r"width of the text encoder.*384"):
        builders.build_denoiser(Recipe.from_dict(mismatch), out_channels=1)
    with pytest.raises(RecipeError, match="names no text encoder"):
        builders.build_denoiser(Recipe.from_dict(
            {"model": {"preset": "tiny", "condition_dim": 16}}),
            out_channels=1)
    with pytest.raises(RecipeError, match="sample.prompts"):
        Recipe.from_dict({"sample": {"prompts": ["a digit"]}})
    with pytest.raises(RecipeError, match="non-empty prompts"):
        Recipe.from_dict(dict(TEXT_RECIPE, sample={"prompts": [" "]}))
    with pytest.raises(RecipeError, match="model.text_encoder"):
        Recipe.from_dict({"model": {"preset": "tiny", "text_encoder": ""}})
    with pytest.raises(RecipeError, match="Unknown text encoder"):
        builders.build_denoiser(Recipe.from_dict(
            {"model": {"preset": "tiny", "text_encoder": "gpt"}}),
            out_channels=1)
    # The paper's recipes name the paper's encoder.
    for name in ("text2video_small", "text2video_large"):
        recipe = load_recipe(RECIPES / f"{name}.yaml")
        assert recipe.model.text_encoder == "bert_large"
        assert builders.text_condition_dim(recipe) == 1024


@pytest.mark.slow
def test_cli_samples_from_several_prompts(text_run, tmp_path):
    from kvdm.io import read_video

    folder, _ = text_run
    video = tmp_path / "prompts.gif"
    result = CliRunner().invoke(cli, [
        "sample", str(folder), "--prompt", PROMPTS[0], "--prompt", PROMPTS[1],
        "--num-videos", "2", "--steps", "2", "--guidance-weight", "1",
        "--output", str(video)])
    assert result.exit_code == 0, result.output
    assert "Wrote 4 videos" in result.output
    assert "2 per prompt, guidance weight 1" in result.output
    assert read_video(str(video), channels=1).shape[0] == 4
    result = CliRunner().invoke(cli, ["sample", str(folder / "model.keras"),
                                      "--prompt", "word " * 300, "--output",
                                      str(video)])
    assert result.exit_code != 0 and "at most 256" in result.output


@pytest.mark.slow
def test_text_preset_loads_by_name(text_run, tmp_path, monkeypatch):
    from kvdm.diffusion import VideoDiffusion

    folder, _ = text_run
    preset = tmp_path / "digits_text"
    preset.mkdir()
    shutil.copyfile(folder / "model.keras", preset / "model.keras")
    shutil.copyfile(folder / "recipe.yaml", preset / "recipe.yaml")
    monkeypatch.setattr(presets, "_ROOT", tmp_path)
    monkeypatch.setitem(presets.PRESETS, "digits_text", "a test preset")
    # The encoder's weights (90 MB for MiniLM) are not in the file.
    assert os.path.getsize(preset / "model.keras") < 20 * 2**20
    model = VideoDiffusion.from_preset("digits_text")
    assert model.text_encoder == "minilm_l6"
    assert not any("transformer_layer" in v.path for v in model.weights)
    # Without --prompt: the recipe's sample.prompts, with its guidance.
    video = tmp_path / "preset.gif"
    result = CliRunner().invoke(cli, ["sample", "digits_text", "--steps", "1",
                                      "--output", str(video)])
    assert result.exit_code == 0, result.output
    assert "Wrote 1 videos" in result.output and video.is_file()


@pytest.mark.slow
def test_moving_digits_text_recipe_trains_three_steps(tmp_path):
    import keras

    from kvdm.training import train

    recipe = load_recipe(RECIPES / "moving_digits_text.yaml", overrides=[
        "train.steps=3", "train.checkpoint_every=3", "sample.num_steps=2",
        f"train.backend={keras.config.backend()}"])
    result = train(recipe, str(tmp_path / "run"), verbose=0)
    assert result.step == 3 and not result.interrupted
    assert os.path.isfile(result.export)
    assert os.path.isfile(tmp_path / "run" / "caption_embeddings.npz")
    assert len(result.samples) == 1 and os.path.isfile(result.samples[0])

"""The presets that ship in the package: their files, their recipes, and what they draw."""

import json
import pathlib

import numpy as np
import pytest
from click.testing import CliRunner

from kvdm import presets

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Each shipped preset and the recipe in the repo that made it.
RECIPES = {
    "moving_digits": "recipes/moving_digits_preset.yaml",
    "moving_digits_text": "recipes/moving_digits_text_preset.yaml",
}


def test_every_listed_preset_is_shipped_with_its_recipe():
    assert set(presets.PRESETS) == set(RECIPES)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_a_preset_is_small_and_made_by_its_recipe(name):
    from kvdm.config import load_recipe

    folder = presets.preset_path(name).parent
    assert presets.preset_path(name).stat().st_size <= 20 * 2**20
    card = json.loads((folder / "card.json").read_text())
    shipped = load_recipe(str(folder / "recipe.yaml")).to_dict()
    recipe = load_recipe(str(ROOT / RECIPES[name])).to_dict()
    # Everything but the number of steps, which the training time set.
    assert shipped["train"].pop("steps") == card["step"]
    recipe["train"].pop("steps")
    assert shipped == recipe
    for figure in ("one_label_share", "majority_share", "confidence", "frechet_distance"):
        assert 0 <= card["evaluator"][figure] < np.inf


def test_kvdm_sample_takes_a_preset_name(tmp_path):
    from kvdm.cli.main import cli
    from kvdm.io import read_video

    output = tmp_path / "digits.gif"
    args = ["sample", "moving_digits", "--num-videos", "1", "--steps", "2", "--output", str(output)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert read_video(str(output)).shape[0] == 8


@pytest.fixture(scope="module")
def evaluator():
    from kvdm.metrics import DigitEvaluator

    return DigitEvaluator()


def test_the_unconditional_preset_draws_digits(evaluator):
    from kvdm.training import generate
    from kvdm.training import load_for_sampling

    loaded = load_for_sampling("moving_digits")
    recipe = loaded.recipe.with_overrides(["sample.num_steps=16"])
    videos = generate(loaded.model, recipe, loaded.video_shape, num_videos=8, seed=0)
    scores = evaluator.evaluate(videos)
    # Noise or blobs read near 0.3-0.5; real frames 0.98.
    assert scores["confidence"] > 0.75, scores
    # The digit moves (real videos: about 1.8 px per frame).
    assert 0.3 < scores["centroid_jump"] < 4.0, scores


def test_the_text_preset_draws_the_prompted_digit(evaluator):
    from kvdm.training import generate
    from kvdm.training import load_for_sampling

    loaded = load_for_sampling("moving_digits_text")
    recipe = loaded.recipe.with_overrides(["sample.num_steps=16"])
    digits = [0, 3, 7, 9]
    prompts = [f"the digit {d} moves left" for d in digits]
    videos = generate(loaded.model, recipe, loaded.video_shape, num_videos=1, seed=0, prompts=prompts)
    probs, _ = evaluator.classify(videos)
    majority = [np.bincount(labels, minlength=10).argmax() for labels in probs.argmax(axis=-1)]
    # Chance would give about 0.4 of the 4.
    assert sum(int(m == d) for m, d in zip(majority, digits)) >= 3, majority

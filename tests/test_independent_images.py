"""Joint training with image frames drawn from the whole data set."""

from kvdm.config import Recipe
from kvdm.training import builders
from kvdm.training import train

RECIPE = {
    "data": {"name": "moving_digits", "num_frames": 4, "image_size": 16,
             "independent_images": True},
    "model": {"preset": "tiny"},
    "diffusion": {"num_image_frames": 3},
    "train": {"steps": 2, "batch_size": 2, "checkpoint_every": 2,
              "sample_every": 0, "log_every": 1},
    "sample": {"sampler": "ddim", "num_steps": 1, "num_videos": 1},
}


def test_recipe_pipeline_carries_images_and_trains(tmp_path):
    recipe = Recipe.from_dict(RECIPE)
    dataset, video_shape = builders.build_dataset(recipe)
    batch = next(iter(dataset))
    assert sorted(batch) == ["images", "video"]
    assert tuple(batch["images"].shape) == (2, 3) + video_shape[1:]
    images = batch["images"].numpy()
    assert images.min() >= -1.0 and images.max() <= 1.0 and images.max() > 0.0
    result = train(recipe, str(tmp_path / "run"), verbose=0)
    assert result.step == 2 and not result.interrupted
    assert result.export is not None

from kvdm.config import Recipe
from kvdm.diffusion import CosineSchedule
from kvdm.training import builders


def test_build_diffusion_takes_the_recipe_schedule():
    recipe = Recipe.from_dict(
        {
            "model": {"preset": "tiny"},
            "diffusion": {
                "schedule": "cosine",
                "logsnr_min": -15.0,
                "logsnr_max": 12.0,
                "logsnr_shift": -2.0,
            },
        }
    )
    model = builders.build_diffusion(recipe, out_channels=1)
    assert isinstance(model.schedule, CosineSchedule)
    assert model.schedule.get_config() == {
        "logsnr_min": -15.0,
        "logsnr_max": 12.0,
        "shift": -2.0,
    }


def test_build_denoiser_takes_the_attention_placement():
    recipe = Recipe.from_dict(
        {
            "data": {"image_size": 16},
            "model": {
                "preset": "tiny",
                "attention_resolutions": [8],
                "temporal_attention_resolutions": [16, 8],
                "space_time_attention_resolutions": [4],
            },
        }
    )
    unet = builders.build_denoiser(recipe, out_channels=1)
    assert unet.temporal_attention_resolutions == [16, 8]
    assert unet.space_time_attention_resolutions == [4]

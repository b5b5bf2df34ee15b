"""The tiny run that tests of trained run folders share.

conftest.py trains it once per session (fixture `trained_run`) through
`kvdm train`; test_cli.py, test_cli_conditional.py and
test_checkpoint_integrity.py read it.
"""

import collections

import yaml

STEPS = 4
RECIPE = {
    "data": {"name": "moving_digits", "num_frames": 4, "image_size": 16},
    # The tiny preset without its downsampling level and without XLA:
    # quicker to build and to trace, and any frame size fits. Dropout and a
    # high learning rate make a wrong batch, seed or optimizer state show in
    # the weights (test_checkpoint_integrity.py compares resumed runs). The
    # video context block puts its per-frame embeddings on every path that
    # reads the run (samplers, conditional tasks, resume).
    "model": {"preset": "tiny", "dropout": 0.1, "channel_multipliers": [1],
              "attention_resolutions": [16], "num_mlp_layers": 1,
              "video_context": True},
    # Noise shared between video frames reaches training and every sampler.
    "diffusion": {"num_image_frames": 1, "noise_correlation": 0.5},
    "train": {"steps": STEPS, "batch_size": 2, "checkpoint_every": 2,
              "sample_every": 0, "log_every": 2, "ema_decay": 0.9,
              "learning_rate": 1.0e-2, "keep_checkpoints": 2,
              "jit_compile": False},
    "sample": {"sampler": "ddim", "num_steps": 1, "num_videos": 1},
}

# recipe: the YAML file; folder: the run folder; output: what
# `kvdm train` wrote.
TrainedRun = collections.namedtuple("TrainedRun", "recipe folder output")


def train(directory):
    """Trains RECIPE into `directory / "run"` with `kvdm train`."""
    from click.testing import CliRunner

    from kvdm.cli.main import cli

    recipe = directory / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(RECIPE))
    folder = directory / "run"
    result = CliRunner().invoke(
        cli, ["train", str(recipe), "--output", str(folder)])
    assert result.exit_code == 0, result.output
    return TrainedRun(recipe, folder, result.output)

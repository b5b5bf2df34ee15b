import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import yaml

from kvdm.config import load_recipe
from kvdm.training import list_checkpoints
from kvdm.training import train

STEPS = 8
TINY = {
    "data": {"name": "moving_digits", "num_frames": 4, "image_size": 16},
    "model": {"preset": "tiny", "dropout": 0.1},
    "diffusion": {"num_image_frames": 1},
    "train": {"steps": STEPS, "batch_size": 2, "checkpoint_every": 2,
              "sample_every": 0, "log_every": 4, "ema_decay": 0.9,
              "learning_rate": 1.0e-2,
              "keep_checkpoints": 2},
    "sample": {"sampler": "ddim", "num_steps": 1, "num_videos": 1},
}
SCRIPT = (
    "import sys\n"
    "from kvdm.config import load_recipe\n"
    "from kvdm.training import train\n"
    "train(load_recipe(sys.argv[1]), sys.argv[2], verbose=0)\n"
)


def final_state(output_dir):
    step, path = list_checkpoints(output_dir)[-1]
    assert step == STEPS
    with np.load(os.path.join(path, "state.npz")) as state:
        return {k: state[k] for k in state.files}


# Three trainings, one of them in a process killed after its first
# checkpoint: test_checkpoint_integrity.py checks exact resumption quicker.
@pytest.mark.slow
def test_killed_run_resumes_to_the_same_weights(tmp_path):
    recipe_path = tmp_path / "tiny.yaml"
    recipe_path.write_text(yaml.safe_dump(TINY))
    recipe = load_recipe(recipe_path)

    # A run killed with SIGKILL right after its first checkpoint.
    killed = tmp_path / "killed"
    env = dict(os.environ, KERAS_BACKEND=keras.config.backend())
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(recipe_path), str(killed)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.time() + 240
    while not list_checkpoints(killed):
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()
    interrupted_at = list_checkpoints(killed)[-1][0]
    assert 0 < interrupted_at < STEPS

    result = train(recipe, str(killed), resume=True, verbose=0)
    assert result.step == STEPS and not result.interrupted

    reference = tmp_path / "reference"
    train(recipe, str(reference), verbose=0)

    resumed, expected = final_state(killed), final_state(reference)
    assert resumed.keys() == expected.keys()
    # Same weights (a single Adam step at this learning rate moves a weight
    # by about 1e-2, so a wrong batch, seed or optimizer state would show).
    for key in expected:
        np.testing.assert_allclose(resumed[key], expected[key], rtol=0,
                                   atol=1e-6, err_msg=key)
    # Training moved the weights well beyond that tolerance since the
    # checkpoint the killed run resumed from.
    with np.load(os.path.join(list_checkpoints(killed)[0][1],
                              "state.npz")) as earlier:
        moved = max(float(np.max(np.abs(earlier[k] - expected[k])))
                    for k in expected if expected[k].dtype == np.float32)
    assert moved > 1e-2

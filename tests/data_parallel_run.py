"""Trains a tiny recipe on one device and on two; test_data_parallel.py.

`python data_parallel_run.py OUT.npz [trainer RUN_DIR]` runs in a process
of its own with two CPU devices: JAX gets them from `XLA_FLAGS`
(`--xla_force_host_platform_device_count=2`, set by the caller), TensorFlow
from two logical devices configured here before anything runs.

It trains `STEPS` steps of `RECIPE` from the same seed and the same batches
with `train.distribution: none` and `data_parallel`, and writes the losses
and every variable of each run (weights, optimizer moments and EMA, seed
states) to OUT.npz. With `trainer RUN_DIR` it also runs `kvdm.training.
train` with `data_parallel` into RUN_DIR, then resumes it on one device
for one more step.
"""

import os
import sys

import numpy as np

STEPS = 2
# Dropout, weight decay and a high learning rate make any difference in the
# noise, the masks or the gradient reduction show in the weights.
RECIPE = {
    "data": {"name": "moving_digits", "num_frames": 4, "image_size": 16},
    "model": {"preset": "tiny", "dropout": 0.1, "channel_multipliers": [1],
              "attention_resolutions": [16], "num_mlp_layers": 1},
    "train": {"steps": STEPS, "batch_size": 4, "learning_rate": 1.0e-2,
              "ema_decay": 0.9, "weight_decay": 0.1,
              "checkpoint_every": 1, "sample_every": 0, "log_every": 1},
    "sample": {"sampler": "ddim", "num_steps": 1, "num_videos": 1},
}


def _two_devices():
    import keras

    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2
        )


def _recipe(distribution, steps=STEPS):
    import copy

    from kvdm.config import Recipe

    import keras

    values = copy.deepcopy(RECIPE)
    # JAX compiles the step (quicker than its op-by-op mode), TensorFlow
    # runs it as a graph without XLA (quicker to trace).
    values["train"].update(
        distribution=distribution, steps=steps,
        jit_compile=keras.config.backend() == "jax",
    )
    return Recipe.from_dict(values)


def _fit(distribution):
    """`(losses, variables)` after `STEPS` steps of `fit`."""
    import keras

    from kvdm.training import builders
    from kvdm.training.checkpoint import model_state_variables

    recipe = _recipe(distribution)
    keras.utils.set_random_seed(recipe.train.seed)
    builders.set_precision(recipe)
    with builders.distribution_scope(recipe):
        dataset, video_shape = builders.build_dataset(recipe)
        example = next(iter(dataset.take(1)))
        model = builders.build_training_model(recipe, video_shape, example)

        class Losses(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.values = []

            def on_train_batch_end(self, batch, logs=None):
                self.values.append(float(logs["loss"]))

        losses = Losses()
        model.fit(dataset, epochs=1, steps_per_epoch=STEPS, shuffle=False,
                  verbose=0, callbacks=[losses])
        # `logs["loss"]` is the mean since the start of `fit`.
        values = np.asarray(losses.values)
        per_step = values * np.arange(1, STEPS + 1)
        per_step[1:] -= per_step[:-1].copy()
        variables = [
            keras.ops.convert_to_numpy(v)
            for v in model_state_variables(model)
        ]
    return per_step, variables


def _trainer(run_dir):
    from kvdm.training import train

    train(_recipe("data_parallel"), run_dir, verbose=0)
    train(_recipe("none", steps=STEPS + 1), run_dir, resume=True, verbose=0)


def main(out, *rest):
    _two_devices()
    import keras

    from kvdm.utils import backend_utils

    arrays = {"devices": backend_utils.data_parallel_scope()[1]}
    for name in ("none", "data_parallel"):
        losses, variables = _fit(name)
        arrays[f"{name}_losses"] = losses
        for i, value in enumerate(variables):
            arrays[f"{name}_{i:04d}"] = value
    if rest and rest[0] == "trainer":
        _trainer(rest[1])
    arrays["backend"] = keras.config.backend()
    np.savez(out, **arrays)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
    main(*sys.argv[1:])

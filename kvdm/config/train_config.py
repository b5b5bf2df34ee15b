"""The `train` section of a recipe."""

import dataclasses

from kvdm.config.fields import RecipeError
from kvdm.config.fields import Section
from kvdm.config.fields import setting
from kvdm.names import BACKENDS
from kvdm.names import DISTRIBUTIONS


@dataclasses.dataclass(frozen=True)
class TrainConfig(Section):
    """Optimization, logging and checkpointing.

    The optimizer is Adam, or AdamW when `weight_decay` is positive, with an
    exponential moving average of the weights used for sampling.

    Args:
        steps: int. Total optimizer steps. Defaults to 10000.
        batch_size: int. Videos per step. Defaults to 8.
        learning_rate: float. Adam learning rate. Defaults to 1e-4.
        beta1: float. Adam beta1. Defaults to 0.9.
        beta2: float. Adam beta2. Defaults to 0.999.
        weight_decay: float. Decoupled weight decay. Defaults to 0.
        ema_decay: float. Decay of the weight moving average. Defaults to
            0.9999.
        grad_clip: float or None. Clip the global gradient norm to this
            value. Defaults to None.
        seed: int. Seed of weights, data order and noise. Defaults to 0.
        backend: str or None. Keras backend to train on; None uses
            `KERAS_BACKEND`. Defaults to None.
        jit_compile: bool or None. Compile the train step with XLA; None
            uses the Keras default of the backend. Defaults to None.
        mixed_precision: bool. Compute in bfloat16 with float32 weights.
            Defaults to False.
        distribution: str. `"none"` trains on one device; `"data_parallel"`
            splits every batch of `batch_size` videos evenly across the
            local accelerators (or CPU devices when there are none) and
            averages the gradients: `keras.distribution.DataParallel` on JAX,
            `tf.distribute.MirroredStrategy` (`TPUStrategy` on a TPU) on
            TensorFlow; PyTorch has no data-parallel training in kvdm.
            Defaults to "none".
        checkpoint_every: int. Steps between checkpoints. Defaults to 1000.
        keep_checkpoints: int. Checkpoints kept on disk. Defaults to 3.
        sample_every: int. Steps between sample videos; 0 writes samples
            only at the end. Defaults to 5000.
        log_every: int. Steps between TensorBoard scalars. Defaults to 100.
        output_dir: str or None. Where runs are written; None lets the
            caller choose. Defaults to None.
    """

    section = "train"

    steps: int = setting(10000, "optimizer steps", minimum=1)
    batch_size: int = setting(8, "videos per step", minimum=1)
    learning_rate: float = setting(
        1e-4, "learning rate", exclusive_minimum=0.0
    )
    beta1: float = setting(
        0.9, "Adam beta1", minimum=0.0, exclusive_maximum=1.0
    )
    beta2: float = setting(
        0.999, "Adam beta2", minimum=0.0, exclusive_maximum=1.0
    )
    weight_decay: float = setting(0.0, "AdamW weight decay", minimum=0.0)
    ema_decay: float = setting(
        0.9999, "weight EMA decay", minimum=0.0, exclusive_maximum=1.0
    )
    grad_clip: float | None = setting(
        None, "global gradient norm clip", exclusive_minimum=0.0
    )
    seed: int = setting(0, "random seed", minimum=0)
    backend: str | None = setting(None, "Keras backend", choices=BACKENDS)
    jit_compile: bool | None = setting(None, "XLA-compile the train step")
    mixed_precision: bool = setting(False, "bfloat16 compute")
    distribution: str = setting(
        "none", "multi-device training", choices=DISTRIBUTIONS
    )
    checkpoint_every: int = setting(1000, "steps per checkpoint", minimum=1)
    keep_checkpoints: int = setting(3, "checkpoints kept", minimum=1)
    sample_every: int = setting(5000, "steps per sample video", minimum=0)
    log_every: int = setting(100, "steps per logged scalar", minimum=1)
    output_dir: str | None = setting(None, "run folder")

    def check(self):
        if self.backend == "torch" and self.distribution != "none":
            raise RecipeError(
                "kvdm trains on PyTorch on one device only; use the JAX or "
                "TensorFlow backend for `train.distribution: "
                f"{self.distribution}`. Received: "
                f"train.distribution={self.distribution!r}"
            )

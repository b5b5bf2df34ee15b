"""Builds the data pipeline, network, diffusion model and optimizer of a recipe.

Shared by training (`kvdm.training.train`) and by the commands that load a
checkpoint, so that a checkpoint is always restored into exactly the model
that wrote it.
"""

import keras

from kvdm.config import RecipeError
from kvdm.config import check_image_size
from kvdm.names import FOLDER_DATASETS


def check_backend(recipe):
    """Raises if the recipe asks for another backend than the running one."""
    wanted = recipe.train.backend
    running = keras.config.backend()
    if wanted is not None and wanted != running:
        raise RecipeError(
            f"The recipe trains on backend {wanted!r} but Keras runs on "
            f"{running!r}. Run with `kvdm --backend {wanted}` (or set "
            f"KERAS_BACKEND={wanted}), or change the recipe. "
            f"Received: train.backend={wanted!r}"
        )


def set_precision(recipe):
    """Sets the global dtype policy from `train.mixed_precision`."""
    keras.config.set_dtype_policy(
        "mixed_bfloat16" if recipe.train.mixed_precision else "float32"
    )


def dataset_options(recipe):
    """The `make_dataset` keyword arguments a recipe's `data` section sets."""
    data = recipe.data
    options = dict(
        split=data.split,
        batch_size=recipe.train.batch_size,
        num_frames=data.num_frames,
        image_size=data.image_size,
        seed=recipe.train.seed,
    )
    if data.name == "moving_digits":
        options["num_digits"] = data.num_digits
        return options
    options.update(frame_skip=data.frame_skip, flip=data.flip)
    if data.name == "clips":
        if data.path is not None:
            options["paths"] = [data.path]
    elif data.name in FOLDER_DATASETS:
        options["path"] = data.path
    else:
        options.update(
            data_dir=data.data_dir,
            manual_dir=data.manual_dir,
            download=data.download,
            shuffle_buffer=data.shuffle_buffer,
        )
    return options


def build_dataset(recipe, start_batch=0):
    """The recipe's training pipeline, starting at batch `start_batch`.

    Batch `n` of the pipeline depends only on the recipe and `n`, so a
    resumed run sees exactly the batches an uninterrupted run would.

    Returns:
        `(dataset, video_shape)`: a `tf.data.Dataset` of dicts
        `{"video": float32 (B, T, H, W, C)}` and `(T, H, W, C)`.
    """
    from kvdm import data as data_lib

    if recipe.model.condition_dim is not None or recipe.model.text_encoder:
        raise RecipeError(
            "Training text-conditioned models needs a text encoder, which "
            "kvdm does not ship yet. Received: "
            f"model.text_encoder={recipe.model.text_encoder!r}, "
            f"model.condition_dim={recipe.model.condition_dim!r}"
        )
    dataset = data_lib.make_dataset(
        recipe.data.name, start_batch=start_batch, **dataset_options(recipe)
    )
    video_shape = tuple(dataset.element_spec["video"].shape[1:])
    dataset = dataset.map(lambda element: {"video": element["video"]})
    return dataset, video_shape


def build_denoiser(recipe, out_channels):
    """The recipe's `VideoUNet` (unbuilt)."""
    from kvdm.models import VideoUNet

    kwargs = recipe.model.unet_kwargs()
    kwargs["out_channels"] = out_channels
    try:
        if recipe.model.preset is not None:
            unet = VideoUNet.from_preset(recipe.model.preset, **kwargs)
        else:
            unet = VideoUNet(**kwargs)
    except ValueError as error:
        raise RecipeError(f"Invalid `model` section: {error}") from None
    check_image_size(recipe.data.image_size, unet.channel_multipliers)
    if unet.condition_dim is not None:
        raise RecipeError(
            "Training text-conditioned models needs a text encoder, which "
            "kvdm does not ship yet. Received: "
            f"model.preset={recipe.model.preset!r}, "
            f"condition_dim={unet.condition_dim}"
        )
    return unet


def build_diffusion(recipe, out_channels):
    """The recipe's `VideoDiffusion` around a fresh `VideoUNet`."""
    from kvdm.diffusion.schedules import get_schedule
    from kvdm.diffusion.video_diffusion import VideoDiffusion

    diffusion = recipe.diffusion
    schedule = get_schedule(
        diffusion.schedule,
        logsnr_min=diffusion.logsnr_min,
        logsnr_max=diffusion.logsnr_max,
        shift=diffusion.logsnr_shift,
    )
    return VideoDiffusion(
        build_denoiser(recipe, out_channels),
        schedule=schedule,
        prediction_type=diffusion.prediction_type,
        loss_weighting=diffusion.loss_weighting,
        num_image_frames=diffusion.num_image_frames,
        condition_dropout=diffusion.condition_dropout,
        seed=recipe.train.seed,
    )


def build_optimizer(recipe):
    """Adam (AdamW when `train.weight_decay > 0`) with weight EMA."""
    train = recipe.train
    kwargs = dict(
        learning_rate=train.learning_rate,
        beta_1=train.beta1,
        beta_2=train.beta2,
        global_clipnorm=train.grad_clip,
        use_ema=True,
        ema_momentum=train.ema_decay,
    )
    if train.weight_decay > 0:
        return keras.optimizers.AdamW(weight_decay=train.weight_decay, **kwargs)
    return keras.optimizers.Adam(**kwargs)


def build_training_model(recipe, video_shape, example_batch):
    """A compiled, fully built `VideoDiffusion` ready for `fit` or restore.

    Args:
        recipe: the `Recipe`.
        video_shape: `(T, H, W, C)` of the training videos.
        example_batch: one batch of the training pipeline, used to create
            every variable (a forward pass without noise state changes).
    """
    from kvdm.training.ema import keep_raw_weights_after_fit

    model = build_diffusion(recipe, out_channels=video_shape[-1])
    jit_compile = recipe.train.jit_compile
    model.compile(
        optimizer=build_optimizer(recipe),
        jit_compile="auto" if jit_compile is None else jit_compile,
    )
    # fit() would otherwise copy the EMA weights over the raw weights when it
    # returns; the raw weights are what training continues from.
    keep_raw_weights_after_fit(model.optimizer)
    model(example_batch, training=False)
    model.optimizer.build(model.trainable_variables)
    return model


def build_inference_model(recipe, video_shape):
    """A built `VideoDiffusion` with an optimizer slot layout for restore."""
    import numpy as np

    batch = {"video": np.zeros((1,) + tuple(video_shape), "float32")}
    return build_training_model(recipe, video_shape, batch)

"""Builds the data pipeline, network, diffusion model and optimizer of a recipe.

Shared by training (`kvdm.training.train`) and by the commands that load a
checkpoint, so that a checkpoint is always restored into exactly the model
that wrote it.
"""

import contextlib

import keras

from kvdm.config import RecipeError
from kvdm.config import check_image_size
from kvdm.names import FOLDER_DATASETS
from kvdm.utils import backend_utils


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


def distribution_scope(recipe):
    """The context to build, compile and train the recipe's model in.

    `train.distribution: data_parallel` splits each batch of
    `train.batch_size` videos evenly across the local devices
    (`backend_utils.data_parallel_scope`); `"none"` trains on one device.
    Checkpoints hold the same values either way, so a run can resume with
    another distribution or device count.

    Returns:
        A context manager.

    Raises:
        RecipeError: the backend is PyTorch, the batch size is not a
            multiple of the number of devices, or `train.grad_clip` is set
            for several devices on TensorFlow.
    """
    name = recipe.train.distribution
    if name == "none":
        return contextlib.nullcontext()
    try:
        scope, devices = backend_utils.data_parallel_scope()
    except NotImplementedError:
        raise RecipeError(
            f"`train.distribution: {name}` needs the JAX or TensorFlow "
            f"backend; kvdm trains on {keras.config.backend()!r} on one "
            "device only. Received: "
            f"train.distribution={name!r}"
        ) from None
    batch_size = recipe.train.batch_size
    if batch_size % devices:
        raise RecipeError(
            f"`train.batch_size` must be a multiple of the {devices} devices "
            f"that `train.distribution: {name}` splits each batch across. "
            f"Received: train.batch_size={batch_size}"
        )
    clip = recipe.train.grad_clip
    if devices > 1 and clip is not None and (
        keras.config.backend() == "tensorflow"
    ):
        # Keras' optimizer clips before `tf.distribute` sums the replicas'
        # gradients, which would clip each replica's share on its own.
        raise RecipeError(
            f"`train.grad_clip` cannot be combined with `train.distribution: "
            f"{name}` across {devices} devices on TensorFlow: Keras clips "
            "each replica's gradient before summing them, not the global "
            "gradient. Remove `train.grad_clip` or train on JAX. "
            f"Received: train.grad_clip={clip}"
        )
    return scope


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
    if data.independent_images:
        options["image_frames"] = recipe.diffusion.num_image_frames
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


def build_dataset(recipe, start_batch=0, cache_dir=None):
    """The recipe's training pipeline, starting at batch `start_batch`.

    Batch `n` of the pipeline depends only on the recipe and `n`, so a
    resumed run sees exactly the batches an uninterrupted run would.

    With `model.text_encoder`, every distinct caption of the data set is
    embedded once, before the first batch (`CaptionCache`, kept in memory
    and in `cache_dir`), and each element gets its caption's token
    embeddings as `"condition"`; the empty caption is the null condition.

    Args:
        recipe: the `Recipe`.
        start_batch: int. Index of the first batch.
        cache_dir: str or None. Folder of the caption embedding cache file
            (the run folder); None keeps it in memory only.

    Returns:
        `(dataset, video_shape)`: a `tf.data.Dataset` of dicts
        `{"video": float32 (B, T, H, W, C)}` (plus `"condition"`: float32
        `(B, L, D)` for text models, and `"images"`: float32 `(B, N, H, W, C)`
        with `data.independent_images`) and `(T, H, W, C)`.
    """
    from kvdm import data as data_lib

    dataset = data_lib.make_dataset(
        recipe.data.name, start_batch=start_batch, **dataset_options(recipe)
    )
    video_shape = tuple(dataset.element_spec["video"].shape[1:])
    if recipe.model.text_encoder is None:
        dataset = dataset.map(
            lambda element: {
                key: element[key] for key in ("video", "images") if key in element
            }
        )
        return dataset, video_shape
    return _with_caption_condition(recipe, dataset, cache_dir), video_shape


def _with_caption_condition(recipe, dataset, cache_dir):
    """Maps each element's caption to its embeddings, looked up in a table."""
    import tensorflow as tf

    from kvdm import data as data_lib
    from kvdm.training.caption_cache import get_caption_cache

    name = recipe.data.name
    vocabulary = None
    if "caption" in dataset.element_spec:
        vocabulary = data_lib.caption_vocabulary(
            name, **dataset_options(recipe)
        )
    if not vocabulary:
        raise RecipeError(
            "A text-conditioned model trains on captions, and this data set "
            "has none (moving_digits, video folders with a captions.csv and "
            "ucf101 have captions). Received: "
            f"data.name={name!r}, model.text_encoder="
            f"{recipe.model.text_encoder!r}"
        )
    cache = get_caption_cache(recipe.model.text_encoder, cache_dir)
    table = tf.constant(cache.table(vocabulary))
    lookup = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(vocabulary),
            tf.range(len(vocabulary), dtype=tf.int64),
        ),
        default_value=-1,
    )

    def add_condition(element):
        index = lookup.lookup(element["caption"])
        check = tf.debugging.assert_non_negative(
            index, message="A caption is missing from the caption table."
        )
        with tf.control_dependencies([check]):
            condition = tf.gather(table, index)
        output = {"video": element["video"], "condition": condition}
        if "images" in element:
            output["images"] = element["images"]
        return output

    return dataset.map(add_condition)


def text_condition_dim(recipe):
    """Width of the text condition of the recipe's model, or None."""
    from kvdm.text import text_encoder_dim

    if recipe.model.text_encoder is None:
        return None
    try:
        return text_encoder_dim(recipe.model.text_encoder)
    except ValueError as error:
        raise RecipeError(f"Invalid `model.text_encoder`: {error}") from None


def build_denoiser(recipe, out_channels):
    """The recipe's `VideoUNet` (unbuilt)."""
    from kvdm.models import VideoUNet

    kwargs = recipe.model.unet_kwargs()
    kwargs["out_channels"] = out_channels
    width = text_condition_dim(recipe)
    if width is not None:
        kwargs.setdefault("condition_dim", width)
    try:
        if recipe.model.preset is not None:
            unet = VideoUNet.from_preset(recipe.model.preset, **kwargs)
        else:
            unet = VideoUNet(**kwargs)
    except ValueError as error:
        raise RecipeError(f"Invalid `model` section: {error}") from None
    check_image_size(recipe.data.image_size, unet.channel_multipliers)
    if width is None and unet.condition_dim is not None:
        raise RecipeError(
            "The network takes a condition but the recipe names no text "
            "encoder; kvdm conditions on captions: set `model.text_encoder` "
            "(e.g. minilm_l6, or bert_large for the paper's models). "
            f"Received: model.preset={recipe.model.preset!r}, "
            f"condition_dim={unet.condition_dim}"
        )
    if width is not None and unet.condition_dim != width:
        raise RecipeError(
            f"`model.condition_dim` must equal the width of the text encoder "
            f"{recipe.model.text_encoder!r} ({width}). "
            f"Received: model.condition_dim={unet.condition_dim}"
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
        noise_correlation=diffusion.noise_correlation,
        context_frames=diffusion.context_frames,
        context_rate=diffusion.context_rate,
        seed=recipe.train.seed,
        text_encoder=recipe.model.text_encoder,
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
    width = text_condition_dim(recipe)
    if width is not None:
        # The null condition, as a token sequence: builds the pooling.
        batch["condition"] = np.zeros((1, 1, width), "float32")
    return build_training_model(recipe, video_shape, batch)

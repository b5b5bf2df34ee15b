"""The trainable video diffusion model: noising, joint image frames, loss."""

import keras
from keras import ops

from kvdm.diffusion.losses import get_loss_weighting
from kvdm.diffusion.losses import loss_weight
from kvdm.diffusion.losses import weighted_mse
from kvdm.diffusion.noise import check_noise_correlation
from kvdm.diffusion.noise import frame_correlated_normal
from kvdm.diffusion.parameterization import check_prediction_type
from kvdm.diffusion.parameterization import context_logsnr
from kvdm.diffusion.parameterization import diffuse
from kvdm.diffusion.parameterization import expand_to
from kvdm.diffusion.parameterization import merge_frames
from kvdm.diffusion.parameterization import target
from kvdm.diffusion.schedules import get_schedule
from kvdm.utils import backend_utils
from kvdm.utils import validation

_OUTPUT_KEYS = ("prediction", "target", "weight")


@keras.saving.register_keras_serializable(package="kvdm")
class VideoDiffusion(keras.Model):
    """A continuous-time Gaussian diffusion model of videos.

    Wraps a denoising network (for example `kvdm.models.VideoUNet`) and
    trains it with the weighted denoising loss of equation 2 through
    `Model.fit` on every backend. One training step draws `t ~ U[0, 1]` and
    `eps ~ N(0, I)` per example, optionally appends independent image frames
    taken from other videos of the batch (joint image-video training,
    section 3), optionally drops the conditioning, forms
    `z_t = alpha_t x + sigma_t eps` (equation 1) and regresses the
    parameterization's target (eps, v or x) from `z_t`.

    `call` returns the prediction, the target and the per-example loss weight
    in a dict; `compute_loss` reduces them to the weighted mean squared
    error. Image frames count in the loss like video frames. With
    `training=False` the same noising is done with fixed seeds and no
    condition dropout, so `evaluate` reports a reproducible loss.

    The noise draws, the schedule, the noising and the loss run in float32
    whatever the dtype policy; the denoiser runs under its own policy (e.g.
    `"mixed_bfloat16"`) and its output is cast to float32. The wrapper itself
    defaults to `dtype="float32"` so that the data is not rounded before it
    is noised. (With a `"mixed_float16"` denoiser, wrap the optimizer in a
    `keras.optimizers.LossScaleOptimizer` yourself.)

    EMA weights come from the optimizer (`use_ema=True`); see
    `kvdm.training.ema` for what `fit` does with them.

    Args:
        denoiser: `keras.Model` called as `denoiser(z_t, logsnr,
            condition=None, num_image_frames=0, training=None)` and returning
            a prediction of `z_t`'s shape.
        schedule: str, dict or `LogSNRSchedule`. The noise schedule.
            Defaults to `"cosine"`.
        prediction_type: str. What the denoiser predicts: `"eps"`, `"v"` or
            `"x"`. Defaults to `"eps"`.
        loss_weighting: `None`, str or callable. `None` is the plain mean
            squared error on the prediction target (for eps-prediction, the
            paper's loss). A name from `kvdm.diffusion.losses.LOSS_WEIGHTINGS`
            or a callable gives the data-space weight `w(lambda)` of
            equation 2 instead. Defaults to `None`.
        num_image_frames: int. Independent image frames appended to every
            training video. Inputs with an `"images"` entry supply them (the
            data pipeline draws them from the whole data set, as the paper
            does: `data.independent_images`); otherwise each is a random
            frame of another video of the batch (batches of at least 2
            videos are needed for the frames to come from other videos).
            Defaults to 0.
        condition_dropout: float in `[0, 1)`. Probability of replacing an
            example's conditioning by the null condition (all zeros) during
            training, for classifier-free guidance. Defaults to 0.
        seed: int or None. Seed of the training noise draws; evaluation
            draws use fixed seeds derived from it. Defaults to None.
        noise_correlation: float in `[0, 1)`. Correlation between the
            frames of a video's noise (`kvdm.diffusion.noise.
            frame_correlated_normal`), in training and, through this
            attribute, in every sampler. A beyond-the-paper option: frames
            that start from similar noise settle on the same content even
            when the network couples them weakly. Defaults to 0 (the
            paper's independent noise).
        context_frames: int. Beyond the paper: the most leading frames a
            training video may show clean. With probability
            `context_rate` a video gets `k`, uniform in
            `[1, min(context_frames, frames - 1)]`, clean leading frames:
            they enter the denoiser as they are, with the log-SNR
            `CONTEXT_LOGSNR` (the denoiser then takes one log-SNR per
            frame), and they are left out of the loss. The network learns
            to continue the frames it is shown, which it then does when
            sampling with `conditioning="context"` (prediction, extension,
            and `anchor_frames` generation). Defaults to 0 (the paper's
            training).
        context_rate: float in `[0, 1]`. Probability that a training video
            shows clean leading frames. Defaults to 0.5.
        text_encoder: str or None. For a text-conditioned model, the
            `kvdm.text.TextEncoder` preset name (or folder) whose token
            embeddings are its condition. Only recorded, so that a saved
            model says how to encode prompts; the encoder's weights are not
            part of the model. Defaults to None.
        **kwargs: passed to `keras.Model` (e.g. `name`, `dtype`).

    Call arguments:
        inputs: a video tensor `(batch, frames, height, width, channels)` in
            `[-1, 1]`, or a dict with key `"video"` and optionally
            `"condition"` (`(batch, dim)` or `(batch, length, dim)`) and
            `"images"` (`(batch, num_image_frames, height, width, channels)`,
            the image frames to append).
        training: bool. Random draws and condition dropout when True, fixed
            draws when False.

    Returns (of `call`):
        A dict with `"prediction"` and `"target"` of shape
        `(batch, frames + num_image_frames, height, width, channels)`,
        `"weight"` `(batch,)` and `"logsnr"` `(batch,)`, all float32.

    Example:

    >>> unet = kvdm.models.VideoUNet.from_preset("tiny")
    >>> diffusion = VideoDiffusion(unet, prediction_type="v", seed=0)
    >>> diffusion.compile(optimizer=keras.optimizers.Adam(
    ...     2e-4, use_ema=True, ema_momentum=0.999))
    >>> diffusion.fit(dataset, epochs=1, steps_per_epoch=10)
    >>> prediction = diffusion.denoise(z_t, logsnr)

    References:
        - [Ho et al., 2022, Video Diffusion Models](https://arxiv.org/abs/2204.03458)
        - [Salimans and Ho, 2022, Progressive Distillation](https://arxiv.org/abs/2202.00512)
        - [Ho and Salimans, 2022, Classifier-Free Diffusion Guidance](https://arxiv.org/abs/2207.12598)
    """

    def __init__(
        self,
        denoiser,
        schedule="cosine",
        prediction_type="eps",
        loss_weighting=None,
        num_image_frames=0,
        condition_dropout=0.0,
        seed=None,
        text_encoder=None,
        noise_correlation=0.0,
        context_frames=0,
        context_rate=0.5,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not callable(denoiser):
            raise ValueError(
                "`denoiser` must be a Keras model or layer. "
                f"Received: denoiser={denoiser!r}"
            )
        check_prediction_type(prediction_type)
        get_loss_weighting(loss_weighting)
        validation.non_negative_int(num_image_frames, "num_image_frames")
        validation.fraction(condition_dropout, "condition_dropout")
        validation.optional_int(seed, "seed")
        if text_encoder is not None and (
            not isinstance(text_encoder, str) or not text_encoder.strip()
        ):
            raise ValueError(
                "`text_encoder` must be a text encoder name or folder, or "
                f"None. Received: text_encoder={text_encoder!r}"
            )
        self.denoiser = denoiser
        self.schedule = get_schedule(schedule)
        self.prediction_type = prediction_type
        self.loss_weighting = loss_weighting
        self.num_image_frames = num_image_frames
        self.condition_dropout = float(condition_dropout)
        self.seed = seed
        self.text_encoder = text_encoder
        self.noise_correlation = check_noise_correlation(noise_correlation)
        self.context_frames = validation.non_negative_int(
            context_frames, "context_frames"
        )
        self.context_rate = float(
            validation.fraction(context_rate, "context_rate", include_one=True)
        )
        self.seed_generator = keras.random.SeedGenerator(seed)

    # ------------------------------------------------------------------ utils
    @staticmethod
    def _unpack(inputs):
        if isinstance(inputs, dict):
            if "video" not in inputs:
                raise ValueError(
                    "Dict inputs need a 'video' entry (and optionally "
                    f"'condition'). Received: keys={sorted(inputs)}"
                )
            return inputs["video"], inputs.get("condition")
        return inputs, None

    def _seeds(self, training):
        """Seeds for (t, eps, image frames, condition dropout, context)."""
        if training:
            return (self.seed_generator,) * 5
        base = 0 if self.seed is None else self.seed
        return tuple(base + offset for offset in (1, 2, 3, 4, 5))

    def context_mask(self, batch, frames, total_frames=None, seed=None):
        """Draws which leading frames of each training video are clean.

        Args:
            batch: int or scalar tensor. Videos in the batch.
            frames: int or scalar tensor. Video frames (image frames
                excluded).
            total_frames: int, scalar tensor or None. Frames of the mask,
                appended image frames included (never clean); None uses
                `frames`.
            seed: a `SeedGenerator`, an int, or None for the model's own.

        Returns:
            A float32 `(batch, total_frames)` mask, 1 on clean frames.
        """
        seed = self.seed_generator if seed is None else seed
        total_frames = frames if total_frames is None else total_frames
        draws = backend_utils.per_example_draw(
            lambda shape: keras.random.uniform(
                shape, dtype="float32", seed=seed
            ),
            (batch, 2),
        )
        most = ops.minimum(
            float(self.context_frames), ops.cast(frames, "float32") - 1.0
        )
        most = ops.maximum(most, 0.0)
        count = ops.minimum(1.0 + ops.floor(draws[:, 1] * most), most)
        count = ops.where(draws[:, 0] < self.context_rate, count, 0.0)
        positions = ops.cast(ops.arange(total_frames), "float32")
        return ops.cast(positions[None, :] < count[:, None], "float32")

    def add_image_frames(self, video, seed=None, images=None):
        """Appends `num_image_frames` image frames to every video.

        Given `images`, those are appended. Otherwise frame `T + k` of
        example `b` is frame `f` of example `(b + o) mod batch` with `o`
        uniform in `[1, batch - 1]` and `f` uniform in `[0, T)`, drawn
        independently for every `(b, k)`.

        Args:
            video: tensor `(batch, frames, height, width, channels)`.
            seed: a `SeedGenerator`, an int, or None for the model's own
                seed generator.
            images: optional tensor `(batch, num_image_frames, height,
                width, channels)`: the image frames to append.

        Returns:
            A float32 tensor with `frames + num_image_frames` frames.
        """
        video = ops.cast(video, "float32")
        n = self.num_image_frames
        if images is not None:
            expected = (n,) + tuple(video.shape[2:])
            if tuple(images.shape[1:]) != expected:
                raise ValueError(
                    "`images` must hold `num_image_frames` frames shaped like "
                    f"the video's, (batch, {n}, "
                    f"{', '.join(str(d) for d in video.shape[2:])}). "
                    f"Received: images.shape={tuple(images.shape)}"
                )
        if n == 0:
            return video
        if images is not None:
            return ops.concatenate([video, ops.cast(images, "float32")], axis=1)
        seed = self.seed_generator if seed is None else seed
        shape = ops.shape(video)
        batch, frames = shape[0], shape[1]
        draws = backend_utils.per_example_draw(
            lambda shape: keras.random.uniform(
                shape, dtype="float32", seed=seed
            ),
            (batch, n, 2),
        )
        batch_f = ops.cast(batch, "float32")
        frames_f = ops.cast(frames, "float32")
        # Offset in [1, batch - 1]: a different video whenever batch >= 2.
        offset = 1 + ops.floor(draws[..., 0] * ops.maximum(batch_f - 1, 1.0))
        offset = ops.cast(
            ops.minimum(offset, ops.maximum(batch_f - 1, 1.0)), "int32"
        )
        frame = ops.cast(
            ops.minimum(ops.floor(draws[..., 1] * frames_f), frames_f - 1),
            "int32",
        )
        rows = ops.expand_dims(ops.arange(batch, dtype="int32"), -1)
        source = ops.mod(rows + offset, ops.cast(batch, "int32"))
        index = source * ops.cast(frames, "int32") + frame
        flat = ops.reshape(video, (-1,) + tuple(video.shape[2:]))
        images = ops.take(flat, index, axis=0)
        return ops.concatenate([video, images], axis=1)

    def drop_condition(self, condition, seed=None):
        """Replaces each row by the null condition with prob. `condition_dropout`."""
        if condition is None or self.condition_dropout == 0.0:
            return condition
        seed = self.seed_generator if seed is None else seed
        batch = ops.shape(condition)[0]
        keep = backend_utils.per_example_draw(
            lambda shape: keras.random.uniform(
                shape, dtype="float32", seed=seed
            ),
            (batch,),
        )
        keep = ops.cast(keep >= self.condition_dropout, condition.dtype)
        return condition * expand_to(keep, len(condition.shape))

    # ------------------------------------------------------------- training
    def call(self, inputs, training=None):
        video, condition = self._unpack(inputs)
        images = inputs.get("images") if isinstance(inputs, dict) else None
        t_seed, eps_seed, frame_seed, drop_seed, context_seed = self._seeds(
            training
        )
        x = self.add_image_frames(video, seed=frame_seed, images=images)
        if training:
            condition = self.drop_condition(condition, seed=drop_seed)
        batch = ops.shape(x)[0]
        # t ~ U[0, 1] and eps ~ N(0, I) in float32 (equation 2).
        t = backend_utils.per_example_draw(
            lambda shape: keras.random.uniform(
                shape, dtype="float32", seed=t_seed
            ),
            (batch,),
        )
        logsnr = self.schedule(t)
        eps = frame_correlated_normal(
            ops.shape(x),
            self.noise_correlation,
            num_image_frames=self.num_image_frames,
            draw=lambda size: backend_utils.per_example_draw(
                lambda shape: keras.random.normal(
                    shape, dtype="float32", seed=eps_seed
                ),
                size,
            ),
        )
        z_t = diffuse(x, eps, logsnr)  # equation 1
        weight = loss_weight(logsnr, self.prediction_type, self.loss_weighting)
        goal = target(x, eps, logsnr, self.prediction_type)
        network_logsnr = logsnr
        mask = None
        if self.context_frames > 0:
            shape = ops.shape(x)
            mask = self.context_mask(
                batch, ops.shape(video)[1], shape[1], seed=context_seed
            )
            # Clean leading frames, marked by their own log-SNR.
            z_t = merge_frames(mask, x, z_t)
            network_logsnr = context_logsnr(mask, logsnr)
        prediction = ops.cast(
            self.denoiser(
                z_t,
                network_logsnr,
                condition=condition,
                num_image_frames=self.num_image_frames,
                training=training,
            ),
            "float32",
        )
        if mask is not None:
            # The clean frames are not predicted: no error there, and each
            # video's loss stays the mean over the frames it generates.
            prediction = merge_frames(mask, goal, prediction)
            frames = ops.cast(ops.shape(x)[1], "float32")
            weight = weight * frames / (frames - ops.sum(mask, axis=1))
        return {
            "prediction": prediction,
            "target": goal,
            "weight": weight,
            "logsnr": logsnr,
        }

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        """Weighted mean squared error of equation 2 (plus added losses).

        Under `tf.distribute` with several replicas, each replica's mean is
        divided by their number (as Keras' own losses are), so that the
        gradients summed over the replicas are those of the global mean.
        """
        del x, y, training
        if not isinstance(y_pred, dict) or any(
            key not in y_pred for key in _OUTPUT_KEYS
        ):
            raise ValueError(
                "`y_pred` must be the dict returned by `VideoDiffusion.call` "
                f"with keys {_OUTPUT_KEYS}. Received: y_pred={y_pred!r}"
            )
        loss = weighted_mse(
            y_pred["prediction"],
            y_pred["target"],
            y_pred["weight"],
            sample_weight=sample_weight,
        )
        for extra in self.losses:
            loss = loss + ops.sum(ops.cast(extra, "float32"))
        _, replicas = backend_utils.replica_position()
        if replicas > 1:
            loss = loss / replicas
        return loss

    # ------------------------------------------------------------ inference
    def denoise(self, z_t, logsnr, condition=None):
        """Runs the denoiser for sampling (no noise, `training=False`).

        Args:
            z_t: tensor `(batch, frames, height, width, channels)`.
            logsnr: tensor `(batch,)` or a scalar.
            condition: optional conditioning (all-zero rows are the null
                condition).

        Returns:
            The denoiser's prediction of type `prediction_type`, float32.
        """
        z_t = ops.convert_to_tensor(z_t)
        logsnr = ops.cast(logsnr, "float32")
        if len(logsnr.shape) == 0:
            logsnr = ops.broadcast_to(logsnr, (ops.shape(z_t)[0],))
        prediction = self.denoiser(
            z_t, logsnr, condition=condition, num_image_frames=0,
            training=False,
        )
        return ops.cast(prediction, "float32")

    @classmethod
    def from_preset(cls, name):
        """Loads a pretrained model that ships with kvdm.

        Args:
            name: str. A name in `kvdm.presets.PRESETS`:
                `"moving_digits"` or `"moving_digits_text"`
                (`bench/make_preset.py` makes more).

        Returns:
            The `VideoDiffusion` with its EMA weights, ready for
            `kvdm.samplers.sample` (the preset's `recipe.yaml` beside it
            holds the sampler settings it was measured with).

        Example:
        >>> diffusion = VideoDiffusion.from_preset("moving_digits")
        >>> videos = kvdm.samplers.sample(diffusion, (4, 8, 32, 32, 1),
        ...                               sampler="ddim", num_steps=64)
        """
        from kvdm import presets

        path = presets.preset_path(name)
        # Importing registers the network classes with Keras.
        import kvdm.models  # noqa: F401

        model = keras.saving.load_model(path, compile=False)
        if not isinstance(model, cls):
            raise ValueError(
                f"Preset {name!r} does not hold a {cls.__name__}. "
                f"Received: {type(model).__name__}"
            )
        return model

    # -------------------------------------------------------- serialization
    def get_config(self):
        config = super().get_config()
        loss_weighting = self.loss_weighting
        if callable(loss_weighting):
            loss_weighting = keras.saving.serialize_keras_object(
                loss_weighting
            )
        config.update(
            {
                "denoiser": keras.saving.serialize_keras_object(self.denoiser),
                "schedule": keras.saving.serialize_keras_object(self.schedule),
                "prediction_type": self.prediction_type,
                "loss_weighting": loss_weighting,
                "num_image_frames": self.num_image_frames,
                "condition_dropout": self.condition_dropout,
                "seed": self.seed,
                "text_encoder": self.text_encoder,
                "noise_correlation": self.noise_correlation,
                "context_frames": self.context_frames,
                "context_rate": self.context_rate,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["denoiser"] = keras.saving.deserialize_keras_object(
            config["denoiser"], custom_objects=custom_objects
        )
        config["schedule"] = get_schedule(config["schedule"])
        return cls(**config)

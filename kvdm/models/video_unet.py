"""The space-time factorized 3D U-Net of the paper (Figure 1)."""

import copy
import operator

import keras
from keras import ops

from kvdm.layers.attention_ops import resolve_groups
from kvdm.layers.condition_embedding import ConditionEmbedding
from kvdm.layers.frame_group_norm import FrameGroupNormalization
from kvdm.layers.logsnr_embedding import LogSNREmbedding
from kvdm.layers.res_block import ResBlock
from kvdm.layers.space_only_conv3d import SpaceOnlyConv3D
from kvdm.layers.space_time_attention import SpaceTimeAttention
from kvdm.layers.spatial_attention import SpatialAttention
from kvdm.layers.spatial_downsample import SpatialDownsample
from kvdm.layers.spatial_upsample import SpatialUpsample
from kvdm.layers.temporal_attention import TemporalAttention
from kvdm.layers.video_context import VideoContext
from kvdm.models.video_unet_presets import VIDEO_UNET_PRESETS
from kvdm.utils import backend_utils
from kvdm.utils import validation


# Queries per attention chunk of a rematerialized network: at a 32x32 level,
# a quarter of the attention matrix at a time.
REMAT_QUERY_CHUNK = 256


@keras.saving.register_keras_serializable(package="kvdm")
class VideoUNet(keras.Model):
    """Space-time factorized U-Net that denoises videos.

    The architecture of Figure 1 and section 3 of the paper: an image
    diffusion U-Net whose 3x3 convolutions become 1x3x3 space-only
    convolutions, whose spatial attention treats frames as batch entries,
    and which has a temporal attention block (with relative position biases)
    after every spatial attention block. The downsampling pass has `K =
    len(channel_multipliers)` levels at `base_channels * M_k` channels with
    `num_res_blocks` residual blocks each and halves height and width between
    levels; the middle has a residual block, attention and a residual block;
    the upsampling pass has `num_res_blocks + 1` residual blocks per level,
    each taking a concatenation skip connection from the downsampling pass.
    The log-SNR `lambda_t` and the optional condition `c` are embedded by
    MLPs and summed, and the sum is added into every residual block.

    Spatial and temporal attention run at every level whose spatial size
    (height of the feature map, relative to the input height seen when the
    model is built) is in `attention_resolutions`, and always in the middle
    block, so frames always interact at the lowest resolution.

    Only temporal attention mixes frames (and, beyond the paper, the
    optional temporal shift and video context): convolutions and group
    normalizations act on each frame separately. With `num_image_frames = n`
    the last `n` frames are independent images (joint image-video training,
    section 4.3.1): each is processed exactly as a one-frame video, and the
    video frames do not see them. The model runs on any number of frames.

    To try another block, subclass `VideoUNet` and override
    `make_res_block`, `make_spatial_attention`, `make_temporal_attention` or
    `make_space_time_attention`: `build` creates every block through them.

    Args:
        out_channels: int or None. Output channels; `None` uses the input
            channels. Defaults to `None`.
        base_channels: int. Channels of the first level. Defaults to `64`.
        channel_multipliers: list of ints. Channel multiplier `M_k` of each
            level. Defaults to `[1, 2, 4, 8]`.
        num_res_blocks: int. Residual blocks per level in the downsampling
            pass (the upsampling pass has one more). Defaults to `2`.
        attention_resolutions: list of ints. Spatial sizes (feature map
            heights) at which attention blocks are used. Defaults to
            `[32, 16, 8]`.
        head_dim: int. Channels per attention head. Defaults to `64`.
        dropout: float. Dropout rate of the residual blocks. Defaults to
            `0.0`.
        num_mlp_layers: int. Dense layers of the log-SNR and condition
            embedding MLPs. Defaults to `2`.
        embedding_dim: int or None. Width of the conditioning embedding;
            `None` uses `4 * base_channels`. Defaults to `None`.
        condition_dim: int or None. Width of the condition vectors or token
            embeddings; `None` makes the model unconditional. Defaults to
            `None`.
        groups: int. Group normalization groups (at most the channels of a
            layer). Defaults to `32`.
        use_scale_shift_norm: bool. Whether the embedding scales and shifts
            the residual blocks' second normalization instead of being added.
            Defaults to `True`.
        pooling_heads: int. Attention heads pooling condition token
            sequences. Defaults to `8`.
        temporal_attention_resolutions: list of ints or None. Spatial sizes
            at which temporal attention blocks are used; `None` uses
            `attention_resolutions` (the paper's placement: temporal after
            every spatial attention block). Temporal attention attends over
            only the frames at each position, so it is cheap at high
            resolution, where spatial attention is not: running it at every
            level couples the frames much more strongly. The middle block
            always has both. Defaults to `None`.
        space_time_attention_resolutions: list of ints. Spatial sizes at
            which one `SpaceTimeAttention` block (every position of every
            frame attends to every other) replaces the spatial and temporal
            pair, the middle block included when its size is listed. A
            beyond-the-paper option for low resolutions: it lets a moving
            object be matched to itself across frames. Defaults to `[]`.
        temporal_shift: float. Share of the channels that every residual
            block moves one frame forward or back before its first
            convolution (`kvdm.layers.temporal_shift`, half each way), so
            its space-only convolution mixes neighbouring frames at offsets
            of up to a pixel, like a 3x3x3 convolution at no extra cost: a
            beyond-the-paper option that lets the network follow a moving
            object at full resolution, where temporal attention (one
            position across frames) cannot. `0` is the paper's network.
            Defaults to `0.0`.
        video_context: bool. Whether a `VideoContext` block in the middle
            pools the features over space and over the video's frames and
            adds the result to the embedding of the residual blocks after
            it (the middle's second block and the whole upsampling pass), so
            every frame sees a summary of the whole video. A beyond-the-paper
            option: it carries what stays the same across frames (an
            object's identity) to every frame however far the object moved.
            Defaults to `False`.
        remat: bool. Whether to rematerialize every stage (a residual
            block with the attention blocks after it and the upsampling
            before it) and the output head: only a stage's inputs are kept
            for the backward pass, and its activations are computed again
            from them when gradients are taken. Peak training memory
            falls, a step costs about one more forward pass, and outputs
            and gradients are unchanged (dropout draws the same mask in both
            passes). Attention over more than `REMAT_QUERY_CHUNK`
            positions then also runs in recomputed query chunks
            (`query_chunk_size` of the attention blocks), so a large
            level's attention matrix is never held whole. The weights do
            not depend on it. Defaults to `False`.
        **kwargs: base model keyword arguments, such as `name` and `dtype`.

    Call arguments:
        video: tensor of shape `(batch, frames, height, width, channels)`,
            the noisy video `z_t`. Height and width must be divisible by
            `2 ** (len(channel_multipliers) - 1)`.
        logsnr: tensor of shape `(batch,)`, the log-SNR `lambda_t`, used in
            float32; or `(batch, frames)`, one per frame (appended image
            frames included), as for frames given clean as context
            (`kvdm.diffusion.VideoDiffusion`'s `context_frames`), which carry
            a high log-SNR of their own.
        condition: None, or a tensor `(batch, condition_dim)` or
            `(batch, length, condition_dim)`. All-zero rows (and `None`) are
            unconditional. Whether the model takes vectors or sequences is
            fixed by the first call (vectors when the first call has no
            condition). Defaults to `None`.
        num_image_frames: int. Number of independent image frames appended
            at the end of the frame axis. Defaults to `0`.
        training: bool. Whether dropout is active.

    Returns:
        A float32 tensor of shape `(batch, frames, height, width,
        out_channels)`.

    Example:
    ```python
    unet = kvdm.models.VideoUNet.from_preset("tiny")
    video = keras.random.normal((2, 4, 16, 16, 3))
    logsnr = keras.ops.convert_to_tensor([-2.0, 5.0])
    unet(video, logsnr).shape  # (2, 4, 16, 16, 3)
    ```

    References:
        - [Ho et al., 2022. Video Diffusion Models, section 3, Figure 1 and
          appendix A](https://arxiv.org/abs/2204.03458)
        - [Dhariwal and Nichol, 2021. Diffusion Models Beat GANs on Image
          Synthesis](https://arxiv.org/abs/2105.05233)
    """

    def __init__(
        self,
        out_channels=None,
        base_channels=64,
        channel_multipliers=(1, 2, 4, 8),
        num_res_blocks=2,
        attention_resolutions=(32, 16, 8),
        head_dim=64,
        dropout=0.0,
        num_mlp_layers=2,
        embedding_dim=None,
        condition_dim=None,
        groups=32,
        use_scale_shift_norm=True,
        pooling_heads=8,
        temporal_attention_resolutions=None,
        space_time_attention_resolutions=(),
        temporal_shift=0.0,
        video_context=False,
        remat=False,
        frames_as_channels=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # Inputs keep their dtype: the log-SNR must stay float32 under mixed
        # precision; every sublayer casts what it computes with itself.
        self.autocast = False
        validation.positive_int(out_channels, "out_channels", allow_none=True)
        validation.positive_int(base_channels, "base_channels")
        channel_multipliers = validation.positive_int_list(
            channel_multipliers, "channel_multipliers"
        )
        if not channel_multipliers:
            raise ValueError(
                "`channel_multipliers` must have at least one entry. "
                f"Received: channel_multipliers={channel_multipliers}"
            )
        validation.positive_int(num_res_blocks, "num_res_blocks")
        attention_resolutions = validation.positive_int_list(
            attention_resolutions, "attention_resolutions"
        )
        if temporal_attention_resolutions is not None:
            temporal_attention_resolutions = validation.positive_int_list(
                temporal_attention_resolutions,
                "temporal_attention_resolutions",
            )
        validation.positive_int(head_dim, "head_dim")
        validation.fraction(dropout, "dropout")
        validation.positive_int(num_mlp_layers, "num_mlp_layers")
        validation.positive_int(embedding_dim, "embedding_dim", allow_none=True)
        validation.positive_int(condition_dim, "condition_dim", allow_none=True)
        validation.positive_int(groups, "groups")
        validation.positive_int(pooling_heads, "pooling_heads")
        temporal_shift = validation.fraction(
            temporal_shift, "temporal_shift", include_one=True
        )
        if not isinstance(video_context, bool):
            raise ValueError(
                "`video_context` must be True or False. "
                f"Received: video_context={video_context!r}"
            )
        if not isinstance(remat, bool):
            raise ValueError(
                f"`remat` must be True or False. Received: remat={remat!r}"
            )
        if not isinstance(frames_as_channels, bool):
            raise ValueError(
                "`frames_as_channels` must be True or False. "
                f"Received: frames_as_channels={frames_as_channels!r}"
            )
        self.out_channels = out_channels
        self.base_channels = base_channels
        self.channel_multipliers = channel_multipliers
        self.num_res_blocks = num_res_blocks
        self.attention_resolutions = attention_resolutions
        self.head_dim = head_dim
        self.dropout = float(dropout)
        self.num_mlp_layers = num_mlp_layers
        self.embedding_dim = embedding_dim
        self.condition_dim = condition_dim
        self.groups = groups
        self.use_scale_shift_norm = bool(use_scale_shift_norm)
        self.pooling_heads = pooling_heads
        self.temporal_attention_resolutions = temporal_attention_resolutions
        self.space_time_attention_resolutions = validation.positive_int_list(
            space_time_attention_resolutions,
            "space_time_attention_resolutions",
        )
        self.temporal_shift = float(temporal_shift)
        self.video_context = video_context
        self.remat = remat
        self.frames_as_channels = frames_as_channels
        self._frames = None
        self._embedding_dim = embedding_dim or 4 * base_channels

    @property
    def spatial_divisor(self):
        """Height and width of the input must be multiples of this."""
        return 2 ** (len(self.channel_multipliers) - 1)

    def _check_video_shape(self, video_shape, name="video_shape"):
        if len(video_shape) != 5:
            raise ValueError(
                "VideoUNet expects a video of shape "
                "(batch, frames, height, width, channels). "
                f"Received: {name}={tuple(video_shape)}"
            )
        divisor = self.spatial_divisor
        for size in video_shape[2:4]:
            if size is not None and size % divisor != 0:
                raise ValueError(
                    "VideoUNet halves height and width "
                    f"{len(self.channel_multipliers) - 1} times, so both must "
                    f"be divisible by {divisor}. "
                    f"Received: {name}={tuple(video_shape)}"
                )

    # Sublayer factories: one place for the arguments shared by all blocks,
    # and the hooks a subclass overrides to try other blocks.
    def make_res_block(self, filters, name):
        """Creates one residual block; `build` calls it for every block.

        Override it in a subclass to try another residual block: the
        result must be a `kvdm.layers.ResBlock` (or a subclass), built as
        `block.build(inputs_shape, embedding_shape)` and called as
        `block(hidden, embedding, training=training, num_image_frames=n)`.
        Keep `name`, so that
        the weights of a saved model find their layers again.

        Args:
            filters: int. Output channels of the block.
            name: str. The block's layer name.

        Returns:
            A `ResBlock`.
        """
        return ResBlock(
            filters,
            dropout=self.dropout,
            groups=self.groups,
            use_scale_shift_norm=self.use_scale_shift_norm,
            temporal_shift=self.temporal_shift,
            dtype=self.dtype_policy,
            name=name,
        )

    def make_spatial_attention(self, name, **kwargs):
        """Creates one spatial attention block (a hook, as `make_res_block`).

        Args:
            name: str. The block's layer name.
            **kwargs: the shared arguments (`head_dim`, `groups`, `dtype`).

        Returns:
            A `kvdm.layers.SpatialAttention` (or a subclass), called as
            `block(hidden)`.
        """
        return SpatialAttention(name=name, **kwargs)

    def make_temporal_attention(self, name, **kwargs):
        """Creates one temporal attention block (a hook, as `make_res_block`).

        Args:
            name: str. The block's layer name.
            **kwargs: the shared arguments (`head_dim`, `groups`, `dtype`).

        Returns:
            A `kvdm.layers.TemporalAttention` (or a subclass), called as
            `block(hidden, num_image_frames=n)`.
        """
        return TemporalAttention(name=name, **kwargs)

    def make_space_time_attention(self, name, **kwargs):
        """Creates one space-time attention block (a hook, as `make_res_block`).

        Args:
            name: str. The block's layer name.
            **kwargs: the shared arguments (`head_dim`, `groups`, `dtype`).

        Returns:
            A `kvdm.layers.SpaceTimeAttention` (or a subclass), called as
            `block(hidden)`.
        """
        return SpaceTimeAttention(name=name, **kwargs)

    def _attention(self, prefix, size, middle=False):
        """The attention blocks of a stage at feature-map height `size`.

        One `SpaceTimeAttention` where `size` is in
        `space_time_attention_resolutions`; otherwise `SpatialAttention`
        and/or `TemporalAttention` as their resolutions say (both in the
        middle block).
        """
        common = dict(
            head_dim=self.head_dim, groups=self.groups, dtype=self.dtype_policy
        )
        if self.remat:
            # Recomputed blocks also attend in recomputed query chunks, so a
            # large level's attention matrix is never held whole.
            common["query_chunk_size"] = REMAT_QUERY_CHUNK
        if size is not None and size in self.space_time_attention_resolutions:
            return [
                self.make_space_time_attention(
                    name=f"{prefix}_space_time_attention", **common
                )
            ]
        temporal_resolutions = self.temporal_attention_resolutions
        if temporal_resolutions is None:
            temporal_resolutions = self.attention_resolutions
        # Stacked frames are one "frame": no frame axis to attend over.
        temporal = not self.frames_as_channels and (
            middle or size in temporal_resolutions
        )
        layers = []
        if middle or size in self.attention_resolutions:
            layers.append(
                self.make_spatial_attention(
                    name=f"{prefix}_spatial_attention", **common
                )
            )
        if temporal:
            layers.append(
                self.make_temporal_attention(
                    name=f"{prefix}_temporal_attention", **common
                )
            )
        return layers

    def build(self, video_shape, logsnr_shape, condition_shape=None):
        video_shape = tuple(video_shape)
        self._check_video_shape(video_shape)
        if video_shape[-1] is None:
            raise ValueError(
                "The channel axis of the video must be defined. "
                f"Received: video_shape={video_shape}"
            )
        if len(logsnr_shape) not in (1, 2):
            raise ValueError(
                "VideoUNet expects a log-SNR of shape (batch,) or "
                "(batch, frames). "
                f"Received: logsnr_shape={tuple(logsnr_shape)}"
            )
        batch, frames, height, width, in_channels = video_shape
        self._out_channels = self.out_channels or in_channels
        if self.frames_as_channels:
            if frames is None:
                raise ValueError(
                    "A VideoUNet with `frames_as_channels=True` needs the "
                    "number of frames when it is built. "
                    f"Received: video_shape={video_shape}"
                )
            # One image whose channels are every frame's channels.
            self._frames = frames
            self._out_channels *= frames
            frames, in_channels = 1, frames * in_channels
            video_shape = (batch, frames, height, width, in_channels)
        embedding_shape = (batch, self._embedding_dim)

        self.logsnr_embedding = LogSNREmbedding(
            self._embedding_dim,
            num_mlp_layers=self.num_mlp_layers,
            dtype=self.dtype_policy,
            name="logsnr_embedding",
        )
        self.logsnr_embedding.build(tuple(logsnr_shape))
        if self.condition_dim is not None:
            if condition_shape is None:
                condition_shape = (batch, self.condition_dim)
            condition_shape = tuple(condition_shape)
            if (
                len(condition_shape) not in (2, 3)
                or condition_shape[-1] != self.condition_dim
            ):
                raise ValueError(
                    "The condition must have shape (batch, condition_dim) or "
                    "(batch, length, condition_dim) with "
                    f"condition_dim={self.condition_dim}. "
                    f"Received: condition_shape={condition_shape}"
                )
            self.condition_embedding = ConditionEmbedding(
                self._embedding_dim,
                num_mlp_layers=self.num_mlp_layers,
                pooling_heads=self.pooling_heads,
                dtype=self.dtype_policy,
                name="condition_embedding",
            )
            self.condition_embedding.build(condition_shape)
        else:
            self.condition_embedding = None

        def spatial_shape(level, channels):
            scale = 2**level
            return (
                batch,
                frames,
                None if height is None else height // scale,
                None if width is None else width // scale,
                channels,
            )

        def level_size(level):
            return None if height is None else height // 2**level

        self.input_conv = SpaceOnlyConv3D(
            self.base_channels,
            kernel_size=3,
            dtype=self.dtype_policy,
            name="input_conv",
        )
        self.input_conv.build(video_shape)

        # Downsampling pass. `skip_channels` mirrors the skip stack of call.
        channels = self.base_channels
        skip_channels = [channels]
        self.down_layers = []
        last_level = len(self.channel_multipliers) - 1
        for level, multiplier in enumerate(self.channel_multipliers):
            for index in range(self.num_res_blocks):
                prefix = f"down_{level}_{index}"
                shape = spatial_shape(level, channels)
                block = self.make_res_block(
                    self.base_channels * multiplier, f"{prefix}_res_block"
                )
                block.build(shape, embedding_shape)
                self.down_layers.append(block)
                channels = self.base_channels * multiplier
                shape = spatial_shape(level, channels)
                for layer in self._attention(prefix, level_size(level)):
                    layer.build(shape)
                    self.down_layers.append(layer)
                skip_channels.append(channels)
            if level != last_level:
                downsample = SpatialDownsample(
                    dtype=self.dtype_policy, name=f"down_{level}_downsample"
                )
                downsample.build(spatial_shape(level, channels))
                self.down_layers.append(downsample)
                skip_channels.append(channels)

        # Middle: residual block, attention, residual block.
        shape = spatial_shape(last_level, channels)
        self.middle_layers = [
            self.make_res_block(channels, "middle_res_block_0")
        ]
        self.middle_layers.extend(
            self._attention("middle", level_size(last_level), middle=True)
        )
        self.middle_layers.append(
            self.make_res_block(channels, "middle_res_block_1")
        )
        for layer in self.middle_layers:
            if isinstance(layer, ResBlock):
                layer.build(shape, embedding_shape)
            else:
                layer.build(shape)
        self.video_context_block = None
        if self.video_context:
            self.video_context_block = VideoContext(
                self._embedding_dim,
                num_mlp_layers=self.num_mlp_layers,
                dtype=self.dtype_policy,
                name="video_context",
            )
            self.video_context_block.build(shape)

        # Upsampling pass with concatenation skips.
        self.up_layers = []
        for level in reversed(range(len(self.channel_multipliers))):
            multiplier = self.channel_multipliers[level]
            for index in range(self.num_res_blocks + 1):
                prefix = f"up_{level}_{index}"
                shape = spatial_shape(level, channels + skip_channels.pop())
                block = self.make_res_block(
                    self.base_channels * multiplier, f"{prefix}_res_block"
                )
                block.build(shape, embedding_shape)
                self.up_layers.append(block)
                channels = self.base_channels * multiplier
                shape = spatial_shape(level, channels)
                for layer in self._attention(prefix, level_size(level)):
                    layer.build(shape)
                    self.up_layers.append(layer)
            if level != 0:
                upsample = SpatialUpsample(
                    dtype=self.dtype_policy, name=f"up_{level}_upsample"
                )
                upsample.build(spatial_shape(level, channels))
                self.up_layers.append(upsample)

        shape = spatial_shape(0, channels)
        self.output_norm = FrameGroupNormalization(
            groups=resolve_groups(channels, self.groups, "VideoUNet"),
            dtype=self.dtype_policy,
            name="output_norm",
        )
        self.output_norm.build(shape)
        self.output_conv = SpaceOnlyConv3D(
            self._out_channels,
            kernel_size=3,
            kernel_initializer="zeros",
            dtype=self.dtype_policy,
            name="output_conv",
        )
        self.output_conv.build(shape)
        self.built = True

    def _embed(self, logsnr, condition):
        embedding = self.logsnr_embedding(logsnr)
        if self.condition_embedding is None:
            if condition is not None:
                raise ValueError(
                    "This VideoUNet is unconditional (`condition_dim=None`) "
                    "but a condition was passed. "
                    f"Received: condition.shape={condition.shape}"
                )
            return embedding
        if condition is None:
            # No condition at all: every row is unconditional.
            condition_embedding = self.condition_embedding.null(
                ops.shape(embedding)[0]
            )
        else:
            condition_embedding = self.condition_embedding(condition)
        condition_embedding = ops.cast(condition_embedding, embedding.dtype)
        if len(embedding.shape) == 3:
            # One log-SNR per frame: the condition is the same for all.
            condition_embedding = condition_embedding[:, None, :]
        return embedding + condition_embedding

    @staticmethod
    def _stages(layers):
        """Groups a pass's layers into the stages that run as one.

        A stage is a residual block with the attention blocks after it. A
        downsampling is a stage of its own (its output is a skip); an
        upsampling begins the stage of the residual block after it, so a
        rematerialized stage keeps the smaller input of the upsampling
        rather than its output.
        """
        stages = []
        for layer in layers:
            follows_upsample = stages and isinstance(
                stages[-1][-1], SpatialUpsample
            )
            starts = isinstance(
                layer, (SpatialDownsample, SpatialUpsample)
            ) or (isinstance(layer, ResBlock) and not follows_upsample)
            if starts or not stages:
                stages.append([layer])
            else:
                stages[-1].append(layer)
        return stages

    def _run_stage(
        self, stage, hidden, embedding, num_image_frames, training, skip=None
    ):
        # With `remat`, a stage (or the output head) keeps only its inputs
        # for the backward pass: the skip of a residual block of the
        # upsampling pass is concatenated onto its input inside the
        # recomputed function, so the concatenation, as large as input and
        # skip together, is not kept as well. Resampling alone keeps little
        # beyond its output and is not recomputed.
        has_block = any(isinstance(layer, ResBlock) for layer in stage)

        # Only the tensors the stage uses are passed (a skip comes with a
        # residual block, so with the embedding).
        def forward(hidden, embedding=None, skip=None):
            for layer in stage:
                if isinstance(layer, ResBlock):
                    if skip is not None:
                        hidden = ops.concatenate(
                            [hidden, ops.cast(skip, hidden.dtype)], axis=-1
                        )
                    hidden = layer(
                        hidden,
                        embedding,
                        training=training,
                        num_image_frames=num_image_frames,
                    )
                elif isinstance(layer, TemporalAttention):
                    hidden = layer(hidden, num_image_frames=num_image_frames)
                else:
                    hidden = layer(hidden)
            return hidden

        inputs = [hidden]
        if has_block:
            inputs.append(embedding)
        if skip is not None:
            inputs.append(skip)
        resampling_only = all(
            isinstance(layer, (SpatialDownsample, SpatialUpsample))
            for layer in stage
        )
        if self.remat and not resampling_only:
            return backend_utils.rematerialized(forward, stage, *inputs)
        return forward(*inputs)

    def _output_head(self, hidden):
        def forward(hidden):
            return self.output_conv(ops.silu(self.output_norm(hidden)))

        if self.remat:
            return backend_utils.rematerialized(
                forward, [self.output_norm, self.output_conv], hidden
            )
        return forward(hidden)

    def call(
        self,
        video,
        logsnr,
        condition=None,
        num_image_frames=0,
        training=None,
    ):
        self._check_video_shape(video.shape, name="video.shape")
        if not isinstance(num_image_frames, bool):
            try:
                # numpy integers count as integers here.
                num_image_frames = operator.index(num_image_frames)
            except TypeError:
                pass
        validation.non_negative_int(num_image_frames, "num_image_frames")
        frames = video.shape[1]
        if frames is not None and num_image_frames > frames:
            raise ValueError(
                f"`num_image_frames` cannot exceed the {frames} frames of the "
                f"video. Received: num_image_frames={num_image_frames}"
            )
        logsnr = ops.cast(logsnr, "float32")
        if len(logsnr.shape) not in (1, 2) or (
            len(logsnr.shape) == 2
            and frames is not None
            and logsnr.shape[1] is not None
            and logsnr.shape[1] != frames
        ):
            raise ValueError(
                "The log-SNR must have shape (batch,) or (batch, frames) "
                f"with frames={frames}. "
                f"Received: logsnr.shape={tuple(logsnr.shape)}"
            )
        embedding = self._embed(logsnr, condition)
        if self.frames_as_channels:
            video, embedding = self._stack_frames(
                video, embedding, num_image_frames
            )

        hidden = self.input_conv(video)
        skips = [hidden]
        for stage in self._stages(self.down_layers):
            hidden = self._run_stage(
                stage, hidden, embedding, num_image_frames, training
            )
            # Every stage's output is kept for the upsampling pass.
            skips.append(hidden)

        last = len(self.middle_layers) - 1
        for position, layer in enumerate(self.middle_layers):
            if position == last and self.video_context_block is not None:
                # (batch, frames, E): the log-SNR and condition embedding
                # plus the video's summary, for every block from here on.
                context = self.video_context_block(
                    hidden, num_image_frames=num_image_frames
                )
                embedding = ops.cast(embedding, "float32")
                if len(embedding.shape) == 2:
                    embedding = embedding[:, None, :]
                embedding = ops.add(embedding, ops.cast(context, "float32"))
            hidden = self._run_stage(
                [layer], hidden, embedding, num_image_frames, training
            )

        # Every stage of the upsampling pass has one residual block, which
        # takes one skip.
        for stage in self._stages(self.up_layers):
            hidden = self._run_stage(
                stage,
                hidden,
                embedding,
                num_image_frames,
                training,
                skip=skips.pop(),
            )

        outputs = self._output_head(hidden)
        if self.frames_as_channels:
            outputs = self._unstack_frames(outputs)
        return ops.cast(outputs, "float32")

    def _stack_frames(self, video, embedding, num_image_frames):
        """`(B, T, H, W, C)` as one frame `(B, 1, H, W, T * C)`.

        A per-frame embedding (one log-SNR per frame) is averaged over the
        frames: the stacked network has one embedding per video.
        """
        if num_image_frames:
            raise ValueError(
                "A VideoUNet with `frames_as_channels=True` sees a video as "
                "one stack of frames and cannot take independent image "
                "frames. Received: "
                f"num_image_frames={num_image_frames}"
            )
        frames = video.shape[1]
        if frames is not None and frames != self._frames:
            raise ValueError(
                "A VideoUNet with `frames_as_channels=True` denoises videos "
                f"of exactly the {self._frames} frames it was built with. "
                f"Received: video.shape={tuple(video.shape)}"
            )
        shape = ops.shape(video)
        video = ops.transpose(video, (0, 2, 3, 1, 4))
        video = ops.reshape(
            video, (-1, 1, shape[2], shape[3], self._frames * shape[4])
        )
        if len(embedding.shape) == 3:
            embedding = ops.mean(embedding, axis=1)
        return video, embedding

    def _unstack_frames(self, outputs):
        """Inverse of `_stack_frames` for the network's output."""
        shape = ops.shape(outputs)
        channels = self._out_channels // self._frames
        outputs = ops.reshape(
            outputs, (-1, shape[2], shape[3], self._frames, channels)
        )
        return ops.transpose(outputs, (0, 3, 1, 2, 4))

    def compute_output_shape(
        self, video_shape, logsnr_shape, condition_shape=None
    ):
        out_channels = self.out_channels or video_shape[-1]
        return tuple(video_shape)[:-1] + (out_channels,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "out_channels": self.out_channels,
                "base_channels": self.base_channels,
                "channel_multipliers": list(self.channel_multipliers),
                "num_res_blocks": self.num_res_blocks,
                "attention_resolutions": list(self.attention_resolutions),
                "head_dim": self.head_dim,
                "dropout": self.dropout,
                "num_mlp_layers": self.num_mlp_layers,
                "embedding_dim": self.embedding_dim,
                "condition_dim": self.condition_dim,
                "groups": self.groups,
                "use_scale_shift_norm": self.use_scale_shift_norm,
                "pooling_heads": self.pooling_heads,
                "temporal_attention_resolutions": (
                    None
                    if self.temporal_attention_resolutions is None
                    else list(self.temporal_attention_resolutions)
                ),
                "space_time_attention_resolutions": list(
                    self.space_time_attention_resolutions
                ),
                "temporal_shift": self.temporal_shift,
                "video_context": self.video_context,
                "remat": self.remat,
                "frames_as_channels": self.frames_as_channels,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @classmethod
    def presets(cls):
        """Names of the available presets."""
        return tuple(VIDEO_UNET_PRESETS)

    @classmethod
    def from_preset(cls, name, **overrides):
        """Creates an unbuilt `VideoUNet` from a named architecture preset.

        Args:
            name: str. One of `VideoUNet.presets()`: `"tiny"`, `"small"`,
                `"ucf101"`, `"bair"`, `"kinetics600"`, `"t2v_small"`,
                `"t2v_large"`, `"t2v_large_128"`.
            **overrides: constructor arguments replacing the preset's.

        Returns:
            A `VideoUNet`, built on its first call.
        """
        if name not in VIDEO_UNET_PRESETS:
            raise ValueError(
                f"Unknown VideoUNet preset. Available presets: "
                f"{', '.join(VIDEO_UNET_PRESETS)}. Received: name={name!r}"
            )
        config = copy.deepcopy(VIDEO_UNET_PRESETS[name])
        config.update(overrides)
        return cls(**config)

"""The `model` section of a recipe."""

import dataclasses

from kvdm.config.fields import RecipeError
from kvdm.config.fields import Section
from kvdm.config.fields import setting

# Arguments a recipe must give when it names no preset.
REQUIRED_WITHOUT_PRESET = ("base_channels", "channel_multipliers")


@dataclasses.dataclass(frozen=True)
class ModelConfig(Section):
    """The denoising network: a `VideoUNet` preset and/or its arguments.

    Every field but `preset` is a `VideoUNet` argument; `None` means "the
    preset's value" (or the `VideoUNet` default when no preset is named).

    Args:
        preset: str or None. A name from `kvdm.models` presets.
        base_channels: int or None. Channels at the highest resolution.
        channel_multipliers: list of int or None. One per resolution level.
        num_res_blocks: int or None. Residual blocks per level.
        attention_resolutions: list of int or None. Spatial sizes with
            attention.
        head_dim: int or None. Channels per attention head.
        dropout: float or None. Dropout rate in residual blocks.
        num_mlp_layers: int or None. Layers of the conditioning MLP.
        embedding_dim: int or None. Width of the log-SNR and condition
            embedding.
        condition_dim: int or None. Size of the conditioning vectors.
        groups: int or None. GroupNorm groups.
        use_scale_shift_norm: bool or None. Embedding as scale and shift of
            the normalized activations in residual blocks.
        pooling_heads: int or None. Heads of the condition attention pooling.
        temporal_attention_resolutions: list of int or None. Spatial sizes
            with temporal attention (None: those with attention).
        space_time_attention_resolutions: list of int or None. Spatial sizes
            where one space-time attention block replaces the spatial and
            temporal pair.
        temporal_shift: float or None. Share of channels each residual
            block shifts by one frame before its first convolution (None:
            0, the paper's frame-by-frame blocks).
        video_context: bool or None. A `VideoContext` block in the middle
            gives every frame a summary of the whole video (None: off).
        remat: bool or None. Recompute the activations of residual and
            attention blocks in the backward pass, trading about one more
            forward pass per step for a lower peak memory (None: off).
        frames_as_channels: bool or None. Denoise a video as one image
            whose channels are all its frames' channels, so that every
            convolution mixes every frame (None: off, the paper's
            factorized network).
        text_encoder: str or None. The frozen text encoder of a
            text-conditioned model: a `kvdm.text` preset name ("minilm_l6",
            "bert_large") or a folder. Training conditions on the data's
            captions; `condition_dim` defaults to the encoder's width.
    """

    section = "model"

    preset: str | None = setting(None, "VideoUNet preset name")
    base_channels: int | None = setting(None, "base channels", minimum=1)
    channel_multipliers: tuple[int, ...] | None = setting(
        None, "channel multiplier per level", minimum=1
    )
    num_res_blocks: int | None = setting(
        None, "residual blocks per level", minimum=1
    )
    attention_resolutions: tuple[int, ...] | None = setting(
        None, "spatial sizes with attention", minimum=1
    )
    head_dim: int | None = setting(None, "attention head size", minimum=1)
    dropout: float | None = setting(
        None, "dropout rate", minimum=0.0, exclusive_maximum=1.0
    )
    num_mlp_layers: int | None = setting(
        None, "conditioning MLP layers", minimum=1
    )
    embedding_dim: int | None = setting(
        None, "conditioning embedding width", minimum=1
    )
    condition_dim: int | None = setting(
        None, "conditioning vector size", minimum=1
    )
    groups: int | None = setting(None, "GroupNorm groups", minimum=1)
    use_scale_shift_norm: bool | None = setting(
        None, "scale-shift conditioning in residual blocks"
    )
    pooling_heads: int | None = setting(
        None, "condition pooling heads", minimum=1
    )
    temporal_attention_resolutions: tuple[int, ...] | None = setting(
        None, "spatial sizes with temporal attention", minimum=1
    )
    space_time_attention_resolutions: tuple[int, ...] | None = setting(
        None, "spatial sizes with space-time attention", minimum=1
    )
    temporal_shift: float | None = setting(
        None, "share of channels shifted by one frame", minimum=0.0,
        maximum=1.0,
    )
    video_context: bool | None = setting(
        None, "per-video summary added to the block embeddings"
    )
    remat: bool | None = setting(
        None, "recompute block activations in the backward pass"
    )
    frames_as_channels: bool | None = setting(
        None, "the frames stacked as the channels of one image"
    )
    text_encoder: str | None = setting(None, "text encoder name")

    def check(self):
        if self.preset is None:
            for name in REQUIRED_WITHOUT_PRESET:
                if getattr(self, name) is None:
                    raise RecipeError(
                        f"`model.{name}` is required when `model.preset` is "
                        f"not given. Received: model.{name}=None"
                    )
        if self.text_encoder is not None and not self.text_encoder.strip():
            raise RecipeError(
                "`model.text_encoder` must name a text encoder (e.g. "
                "\"minilm_l6\") or be null. Received: model.text_encoder=''"
            )
        if self.channel_multipliers == ():
            raise RecipeError(
                "`model.channel_multipliers` needs at least one level. "
                "Received: model.channel_multipliers=[]"
            )

    def unet_kwargs(self):
        """Returns the `VideoUNet` arguments this section sets (no preset)."""
        values = self.to_dict()
        values.pop("preset")
        values.pop("text_encoder")
        return {k: v for k, v in values.items() if v is not None}

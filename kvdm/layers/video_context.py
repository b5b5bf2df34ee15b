"""A per-video summary of U-Net features, added to the block embeddings."""

import keras
from keras import ops

from kvdm.utils import validation


@keras.saving.register_keras_serializable(package="kvdm")
class VideoContext(keras.layers.Layer):
    """Pools features over a whole video into an embedding for every frame.

    A beyond-the-paper block. In the factorized U-Net, frames exchange
    information only through temporal attention, which at each spatial
    position attends over the frames at that same position. A moving object
    is at different positions in different frames, so what one frame says
    about it (a digit's identity, a face, a texture) reaches the other frames
    only through several attention and convolution layers, and a short
    training rarely learns that path: each frame then settles its object on
    its own and the object changes from frame to frame.

    This block gives every frame a summary of the whole video directly. It
    averages features over height and width (a translation-invariant
    description of each frame) and then over the video's frames, and maps the
    average with a small MLP to an embedding that is added to the log-SNR
    and condition embedding of the residual blocks after it (the way a class
    embedding conditions an image model). Appended image frames of joint
    image-video training (section 4.3.1) are summarised on their own and
    never enter the video's average, so they stay independent.

    The last dense layer starts at zero, so a new block leaves the network's
    output unchanged.

    Args:
        embedding_dim: int. Output width (the residual blocks' embedding
            width).
        num_mlp_layers: int. Dense layers of the MLP, with SiLU between them
            and before the first. Defaults to `2`.
        kernel_initializer: initializer of the MLP's hidden layers. Defaults
            to `"glorot_uniform"`.
        output_kernel_initializer: initializer of the last dense layer.
            Defaults to `"zeros"`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: tensor of shape `(batch, frames, height, width, channels)`.
        num_image_frames: python int. Number of independent image frames at
            the end of the frame axis. Defaults to `0`.

    Returns:
        Tensor of shape `(batch, frames, embedding_dim)`: the same vector for
        every video frame of an example, a vector of its own for each image
        frame.

    Example:
    ```python
    context = kvdm.layers.VideoContext(64)
    context(keras.random.normal((2, 8, 4, 4, 32))).shape  # (2, 8, 64)
    ```
    """

    def __init__(
        self,
        embedding_dim,
        num_mlp_layers=2,
        kernel_initializer="glorot_uniform",
        output_kernel_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        validation.positive_int(embedding_dim, "embedding_dim")
        validation.positive_int(num_mlp_layers, "num_mlp_layers")
        self.embedding_dim = embedding_dim
        self.num_mlp_layers = num_mlp_layers
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.output_kernel_initializer = keras.initializers.get(
            output_kernel_initializer
        )

    def build(self, inputs_shape):
        if len(inputs_shape) != 5 or inputs_shape[-1] is None:
            raise ValueError(
                "VideoContext expects inputs of shape "
                "(batch, frames, height, width, channels) with known "
                f"channels. Received: inputs_shape={tuple(inputs_shape)}"
            )
        self.dense_layers = []
        width = inputs_shape[-1]
        for index in range(self.num_mlp_layers):
            last = index == self.num_mlp_layers - 1
            initializer = (
                self.output_kernel_initializer
                if last
                else self.kernel_initializer
            )
            dense = keras.layers.Dense(
                self.embedding_dim,
                kernel_initializer=keras.initializers.get(
                    keras.initializers.serialize(initializer)
                ),
                dtype=self.dtype_policy,
                name=f"dense_{index}",
            )
            dense.build((None, None, width))
            self.dense_layers.append(dense)
            width = self.embedding_dim

    def call(self, inputs, num_image_frames=0):
        validation.non_negative_int(num_image_frames, "num_image_frames")
        # (batch, frames, channels): each frame's mean over space, float32.
        frames = ops.mean(ops.cast(inputs, "float32"), axis=(2, 3))
        num_frames = ops.shape(frames)[1]
        if isinstance(num_frames, int) and num_image_frames > num_frames:
            raise ValueError(
                f"`num_image_frames` cannot exceed the {num_frames} frames "
                f"of the inputs. Received: num_image_frames={num_image_frames}"
            )
        if num_image_frames == 0:
            summary = ops.mean(frames, axis=1, keepdims=True)
            summary = ops.broadcast_to(summary, ops.shape(frames))
        else:
            video = frames[:, : num_frames - num_image_frames]
            video_mean = ops.mean(video, axis=1, keepdims=True)
            summary = ops.concatenate(
                [
                    ops.broadcast_to(video_mean, ops.shape(video)),
                    frames[:, num_frames - num_image_frames :],
                ],
                axis=1,
            )
        hidden = ops.cast(summary, self.compute_dtype)
        for dense in self.dense_layers:
            hidden = dense(ops.silu(hidden))
        return hidden

    def compute_output_shape(self, inputs_shape):
        return (inputs_shape[0], inputs_shape[1], self.embedding_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "embedding_dim": self.embedding_dim,
                "num_mlp_layers": self.num_mlp_layers,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "output_kernel_initializer": keras.initializers.serialize(
                    self.output_kernel_initializer
                ),
            }
        )
        return config

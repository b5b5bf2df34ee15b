"""A frozen BERT text encoder: prompts to token embeddings."""

import functools
import warnings

import keras
import numpy as np
from keras import ops

from kvdm.text.prompts import NUM_SPECIAL_TOKENS
from kvdm.text.prompts import check_text
from kvdm.text.prompts import shorten
from kvdm.text.text_encoder_presets import TEXT_ENCODER_PRESETS
from kvdm.text.text_encoder_presets import TextEncoderNotFoundError
from kvdm.text.text_encoder_presets import canonical_name
from kvdm.text.text_encoder_presets import locate_text_encoder
from kvdm.utils import validation


@keras.saving.register_keras_serializable(package="kvdm")
class TextEncoder(keras.layers.Layer):
    """A frozen keras-hub BERT that turns texts into token embeddings.

    Section 4.4 of the paper conditions text-to-video models on the token
    embeddings of a frozen BERT-large; `kvdm.layers.ConditionEmbedding`
    pools them with attention. This layer holds a keras-hub `BertBackbone`
    and its `BertTokenizer`. Its weights are never trained
    (`trainable_weights` is empty) and are not part of a saved video model:
    a model records the encoder's preset name instead
    (`VideoDiffusion.text_encoder`, the recipe's `model.text_encoder`).

    `encode(texts)` returns the last hidden states of every token, [CLS] and
    [SEP] included, with a padding mask; `condition(texts)` returns what a
    text-conditioned `VideoUNet` takes: the same embeddings with padding
    tokens set to zero, and all-zero rows (the null condition) for empty
    texts. Both pad to the longest text of the call: attention pooling
    ignores the zero padding, so the length does not change the result.

    Args:
        backbone: `keras_hub.models.BertBackbone`.
        tokenizer: `keras_hub.models.BertTokenizer` of the same vocabulary.
        sequence_length: int or None. Most tokens of one text, [CLS] and
            [SEP] included; None is the backbone's `max_sequence_length`.
            Defaults to None.
        preset: str or None. The preset name or folder the encoder was
            loaded from. Defaults to None.
        **kwargs: base layer keyword arguments, such as `name`. The layer
            computes in float32 whatever the global dtype policy.

    Call arguments:
        token_ids: int tensor `(batch, length)`.
        padding_mask: bool or 0/1 tensor `(batch, length)`; False for
            padding.

    Returns:
        float32 tensor `(batch, length, hidden_dim)`: the last hidden states.

    Example:

    >>> encoder = TextEncoder.from_preset("minilm_l6")
    >>> embeddings, mask = encoder.encode(["the digit 7 moves left"])
    >>> embeddings.shape  # (1, 7, 384): [CLS], 5 words, [SEP]
    >>> condition = encoder.condition(["the digit 7 moves left"])

    References:
        - [Devlin et al., 2019. BERT](https://arxiv.org/abs/1810.04805)
        - [Ho et al., 2022. Video Diffusion Models, section 4.4](
          https://arxiv.org/abs/2204.03458)
        - [Wang et al., 2020. MiniLM](https://arxiv.org/abs/2002.10957)
    """

    def __init__(self, backbone, tokenizer, sequence_length=None, preset=None,
                 **kwargs):
        kwargs.pop("trainable", None)
        kwargs.setdefault("dtype", "float32")
        super().__init__(trainable=False, **kwargs)
        for value, name in ((backbone, "backbone"), (tokenizer, "tokenizer")):
            if not isinstance(value, keras.layers.Layer):
                raise ValueError(
                    f"`{name}` must be a keras-hub {name} layer. "
                    f"Received: {name}={value!r}"
                )
        limit = int(backbone.max_sequence_length)
        if sequence_length is None:
            sequence_length = limit
        validation.int_at_least(
            sequence_length, "sequence_length", NUM_SPECIAL_TOKENS + 1
        )
        if sequence_length > limit:
            raise ValueError(
                f"`sequence_length` must be at most the backbone's "
                f"max_sequence_length ({limit}). "
                f"Received: sequence_length={sequence_length}"
            )
        if preset is not None and not isinstance(preset, str):
            raise ValueError(
                f"`preset` must be a string or None. Received: preset={preset!r}"
            )
        self.backbone = backbone
        self.backbone.trainable = False
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.preset = preset
        self.built = True

    @property
    def hidden_dim(self):
        """Width of the token embeddings."""
        return int(self.backbone.hidden_dim)

    def call(self, token_ids, padding_mask):
        outputs = self.backbone(
            {
                "token_ids": token_ids,
                "segment_ids": ops.zeros_like(token_ids),
                "padding_mask": padding_mask,
            },
            training=False,
        )
        return ops.cast(outputs["sequence_output"], "float32")

    def compute_output_shape(self, token_ids_shape, padding_mask_shape):
        return tuple(token_ids_shape) + (self.hidden_dim,)

    # ---------------------------------------------------------------- texts
    @staticmethod
    def _check_texts(texts, allow_empty=True):
        if isinstance(texts, (str, bytes)) or not hasattr(texts, "__iter__"):
            raise ValueError(
                f"`texts` must be a list of strings. Received: texts={texts!r}"
            )
        texts = [check_text(t, "text", allow_empty=allow_empty) for t in texts]
        if not texts:
            raise ValueError("`texts` is empty. Received: texts=[]")
        return texts

    def tokenize(self, texts, truncate=False):
        """Token ids and padding mask of texts, padded to the longest.

        Args:
            texts: list of str.
            truncate: bool. Cut a text longer than `sequence_length` tokens
                to its first tokens, with a warning, instead of raising.
                Defaults to False.

        Returns:
            `(token_ids, padding_mask)`: numpy int32 and bool `(batch,
            length)`, `length` the longest text's token count with [CLS]
            and [SEP].
        """
        texts = self._check_texts(texts)
        rows = self.tokenizer(texts)
        if hasattr(rows, "to_list"):
            rows = rows.to_list()
        limit = self.sequence_length - NUM_SPECIAL_TOKENS
        packed = []
        for text, row in zip(texts, rows):
            row = [int(i) for i in np.asarray(row).reshape(-1)]
            if len(row) > limit:
                message = (
                    f"The text is {len(row) + NUM_SPECIAL_TOKENS} tokens long "
                    "([CLS] and [SEP] included) but the text encoder takes at "
                    f"most {self.sequence_length}"
                )
                if not truncate:
                    raise ValueError(
                        f"{message}: shorten it. "
                        f"Received: text={shorten(text)!r}"
                    )
                warnings.warn(f"{message}; its first {self.sequence_length} "
                              f"tokens are used. "
                              f"Received: text={shorten(text)!r}",
                              stacklevel=3)
                row = row[:limit]
            packed.append(
                [self.tokenizer.cls_token_id] + row
                + [self.tokenizer.sep_token_id]
            )
        length = max(len(row) for row in packed)
        token_ids = np.full((len(packed), length), self.tokenizer.pad_token_id,
                            dtype="int32")
        padding_mask = np.zeros((len(packed), length), dtype=bool)
        for index, row in enumerate(packed):
            token_ids[index, : len(row)] = row
            padding_mask[index, : len(row)] = True
        return token_ids, padding_mask

    def encode(self, texts, truncate=False, batch_size=64):
        """Token embeddings of texts.

        Args:
            texts: list of str. "" is allowed (it encodes [CLS] [SEP]).
            truncate: bool. See `tokenize`. Defaults to False.
            batch_size: int. Texts per forward pass. Defaults to 64.

        Returns:
            `(token_embeddings, padding_mask)`: float32 `(batch, length,
            hidden_dim)` and bool `(batch, length)` tensors.
        """
        validation.positive_int(batch_size, "batch_size")
        token_ids, padding_mask = self.tokenize(texts, truncate=truncate)
        outputs = []
        for start in range(0, len(token_ids), batch_size):
            stop = start + batch_size
            outputs.append(ops.convert_to_numpy(
                self(token_ids[start:stop], padding_mask[start:stop])
            ))
        return (
            ops.convert_to_tensor(np.concatenate(outputs, axis=0)),
            ops.convert_to_tensor(padding_mask),
        )

    def condition(self, texts, truncate=False):
        """The conditioning tensor of a text-conditioned video model.

        Args:
            texts: list of str. An empty (or all-whitespace) text gives the
                null condition: a row of zeros.
            truncate: bool. See `tokenize`. Defaults to False.

        Returns:
            float32 tensor `(batch, length, hidden_dim)` with zeros at
            padding tokens.
        """
        texts = self._check_texts(texts)
        given = [i for i, text in enumerate(texts) if text.strip()]
        if not given:
            return ops.zeros((len(texts), 1, self.hidden_dim), "float32")
        embeddings, mask = self.encode([texts[i] for i in given],
                                       truncate=truncate)
        embeddings = ops.convert_to_numpy(embeddings)
        embeddings = embeddings * ops.convert_to_numpy(mask)[..., None]
        condition = np.zeros((len(texts),) + embeddings.shape[1:], "float32")
        condition[given] = embeddings
        return ops.convert_to_tensor(condition)

    # -------------------------------------------------------------- presets
    @classmethod
    def from_preset(cls, name, sequence_length=None, allow_download=False):
        """Loads a text encoder by preset name or from a folder, offline.

        Args:
            name: str. A key of `kvdm.text.TEXT_ENCODER_PRESETS`
                ("minilm_l6", "bert_large") or a folder (Hugging Face BERT
                or keras-hub preset layout).
            sequence_length: int or None. Most tokens per text; None is the
                preset's (the sentence-transformers length for MiniLM, the
                position embeddings otherwise). Defaults to None.
            allow_download: bool. Let keras-hub download a preset that is
                not on this machine ("bert_large"). Defaults to False.

        Returns:
            A `TextEncoder`.

        Raises:
            TextEncoderNotFoundError: the files are not here (and no download
                was allowed); the message says how to provide them.

        Example:

        >>> encoder = TextEncoder.from_preset("minilm_l6")
        >>> encoder.hidden_dim
        384
        """
        import keras_hub

        try:
            found = locate_text_encoder(name)
        except TextEncoderNotFoundError:
            key = canonical_name(name)
            if not allow_download or "keras_hub_preset" not in (
                TEXT_ENCODER_PRESETS.get(key) or {}
            ):
                raise
            found = dict(directory=TEXT_ENCODER_PRESETS[key]["keras_hub_preset"],
                         name=key, layout="keras_hub", sequence_length=None)
        tokenizer_kwargs = {}
        if found["layout"] == "huggingface":
            tokenizer_kwargs["strip_accents"] = found["strip_accents"]
        backbone = keras_hub.models.BertBackbone.from_preset(
            found["directory"], dtype="float32"
        )
        tokenizer = keras_hub.models.BertTokenizer.from_preset(
            found["directory"], **tokenizer_kwargs
        )
        if sequence_length is None:
            sequence_length = min(
                found["sequence_length"] or backbone.max_sequence_length,
                backbone.max_sequence_length,
            )
        return cls(backbone, tokenizer, sequence_length=sequence_length,
                   preset=found["name"])

    def save_to_preset(self, directory):
        """Writes a keras-hub preset folder that `from_preset` reads back."""
        self.backbone.save_to_preset(directory)
        self.tokenizer.save_to_preset(directory)

    def get_config(self):
        config = super().get_config()
        config.pop("trainable", None)
        config.update(
            {
                "backbone": keras.saving.serialize_keras_object(self.backbone),
                "tokenizer": keras.saving.serialize_keras_object(
                    self.tokenizer
                ),
                "sequence_length": self.sequence_length,
                "preset": self.preset,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("backbone", "tokenizer"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


@functools.lru_cache(maxsize=4)
def load_text_encoder(name):
    """`TextEncoder.from_preset(name)`, loaded once per process."""
    return TextEncoder.from_preset(name)

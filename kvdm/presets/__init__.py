"""Pretrained models that ship inside the package.

Each preset is a folder here holding `model.keras` (a `VideoDiffusion` with
its EMA weights), the `recipe.yaml` that trained it (its `sample` section
gives the default sampler) and `card.json` (how it was made and what the
evaluator measured). A preset name is accepted wherever a run folder or a
`.keras` file is: `kvdm sample NAME`, `load_for_sampling(NAME)`,
`VideoDiffusion.from_preset(NAME)`.

This module imports nothing heavy, so the CLI can resolve names before
Keras is loaded.
"""

import pathlib

_ROOT = pathlib.Path(__file__).resolve().parent

# name -> what it is, in one line. `bench/make_preset.py` makes a preset's
# folder; a name is listed here once its files ship.
PRESETS = {
    "moving_digits": "one MNIST digit moving in 8 frames of 32x32, unconditional (recipes/moving_digits_preset.yaml)",
    "moving_digits_text": (
        "one MNIST digit moving in 8 frames of 32x32 from a caption such as "
        "'the digit 7 moves left' (recipes/moving_digits_text_preset.yaml)"
    ),
}


def is_preset(name):
    """Whether `name` names a shipped preset (and not an existing path)."""
    return isinstance(name, str) and name in PRESETS and not pathlib.Path(name).exists()


def preset_path(name, filename="model.keras"):
    """Path of a file of preset `name`.

    Raises:
        ValueError: unknown preset name (the message lists the presets).
        FileNotFoundError: the preset's file is missing from the install.
    """
    if name not in PRESETS:
        raise ValueError(
            f"Unknown preset. Available presets: {', '.join(PRESETS) or 'none yet'}. Received: name={name!r}"
        )
    path = _ROOT / name / filename
    if not path.is_file():
        raise FileNotFoundError(
            f"Preset {name!r} is missing its {filename} (expected {path}); reinstall kvdm."
        )
    return path

"""Each name list is declared once in `kvdm.names`; registries must agree."""

import subprocess
import sys

from kvdm import config
from kvdm import names
from kvdm.data import registry as data_registry
from kvdm.diffusion import losses
from kvdm.diffusion import schedules
from kvdm.samplers import conditioning
from kvdm.samplers import registry as sampler_registry


def test_sampler_registry_matches_names():
    assert tuple(sampler_registry.SAMPLERS) == names.SAMPLERS


def test_schedule_registry_matches_names():
    assert tuple(schedules.SCHEDULES) == names.SCHEDULES


def test_loss_weighting_registry_matches_names():
    assert tuple(losses.LOSS_WEIGHTINGS) == names.LOSS_WEIGHTINGS


def test_dataset_registry_matches_names():
    canonical = {names.DATASET_ALIASES.get(n, n) for n in names.DATASETS}
    assert canonical == set(data_registry.DATASET_NAMES)
    assert set(names.FOLDER_DATASETS) <= set(names.DATASETS)
    for name in names.DATASETS:
        assert data_registry.dataset_info(name)["needs_path"] == (
            name in names.FOLDER_DATASETS
        )


def test_checks_accept_exactly_the_names():
    for name in names.CONDITIONING_METHODS:
        assert conditioning.check_conditioning(name) == name
    from kvdm.diffusion.parameterization import check_prediction_type

    for name in names.PREDICTION_TYPES:
        assert check_prediction_type(name) == name


def test_config_uses_the_same_lists():
    assert config.SAMPLERS is names.SAMPLERS
    assert config.CONDITIONING_METHODS is names.CONDITIONING_METHODS
    assert config.PREDICTION_TYPES is names.PREDICTION_TYPES
    assert config.DATASETS is names.DATASETS
    assert config.BACKENDS is names.BACKENDS
    fields = _choices(config.DiffusionConfig)
    assert fields["schedule"] == names.SCHEDULES
    assert fields["loss_weighting"] == names.LOSS_WEIGHTINGS


def _choices(section):
    import dataclasses

    return {
        f.name: f.metadata["choices"]
        for f in dataclasses.fields(section)
        if f.metadata.get("choices") is not None
    }


def test_config_imports_no_backend():
    # The CLI validates recipes before it pays for a backend import.
    code = (
        "import sys, kvdm.config; "
        "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"

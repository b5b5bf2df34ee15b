"""Samplers by name."""

from kvdm.samplers.ancestral import AncestralSampler
from kvdm.samplers.ddim import DDIMSampler
from kvdm.samplers.predictor_corrector import PredictorCorrectorSampler
from kvdm.samplers.sampler import Sampler
from kvdm.utils import validation

# Keyed by `kvdm.names.SAMPLERS`.
SAMPLERS = {
    "ancestral": AncestralSampler,
    "predictor_corrector": PredictorCorrectorSampler,
    "ddim": DDIMSampler,
}


def get_sampler(identifier, **kwargs):
    """Returns a sampler from a name, a config dict or a `Sampler`.

    Args:
        identifier: str, dict or `Sampler`. "ancestral",
            "predictor_corrector" or "ddim"; a dict
            `{"name": ..., **kwargs}`; or a sampler (returned as is).
        **kwargs: constructor arguments (`num_steps`, `conditioning`,
            `guidance_weight`, `gamma`, ...).

    Example:

    >>> sampler = get_sampler("predictor_corrector", num_steps=64, delta=0.1)
    """
    if isinstance(identifier, Sampler):
        if kwargs:
            raise ValueError(
                "Arguments cannot be combined with a sampler instance. "
                f"Received: sampler={identifier!r}, kwargs={kwargs!r}"
            )
        return identifier
    if isinstance(identifier, dict):
        config = dict(identifier)
        name = config.pop("name", None)
        config.update(kwargs)
        return get_sampler(name, **config)
    validation.choice(identifier, "sampler", sorted(SAMPLERS), what="sampler")
    cls = SAMPLERS[identifier]
    try:
        return cls(**kwargs)
    except TypeError as error:
        raise ValueError(
            f"Invalid argument for sampler {identifier!r}: {error}. "
            f"Received: kwargs={sorted(kwargs)}"
        ) from None

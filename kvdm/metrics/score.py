"""A metric value that carries the number of samples it was measured on."""

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class Score:
    """One measured figure with the sample counts that make it comparable.

    Frechet distances are biased by the number of samples, so a value
    reported without its counts cannot be compared with another; every
    `kvdm.metrics` function that returns a score returns this.

    Args:
        name: str. What was measured, e.g. `"fvd"`.
        value: float. The figure.
        num_samples: int. Generated (or predicted) samples it was measured
            on.
        num_reference: int or None. Real samples it was compared against,
            when there are any. Defaults to `None`.
        std: float or None. Spread over splits or samples, when the figure
            has one. Defaults to `None`.

    Example:

    ```python
    score = fvd(real_videos, generated_videos)
    print(score)            # fvd = 412.3 (256 samples, 256 reference)
    score.to_dict()
    ```
    """

    name: str
    value: float
    num_samples: int
    num_reference: int | None = None
    std: float | None = None

    def to_dict(self):
        """A JSON-ready dict (non-finite values as strings, e.g. `"inf"`)."""
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, float) and not math.isfinite(value):
                value = str(value)
            out[field.name] = value
        return out

    def __str__(self):
        counts = f"{self.num_samples} samples"
        if self.num_reference is not None:
            counts += f", {self.num_reference} reference"
        spread = f" +- {self.std:.4g}" if self.std is not None else ""
        return f"{self.name} = {self.value:.6g}{spread} ({counts})"

import pytest

from kvdm.samplers import AncestralSampler
from kvdm.samplers import PredictorCorrectorSampler
from sampler_test_case import SamplerTestMixin
from sampler_test_case import covariance_error


@pytest.mark.backends
class TestPredictorCorrectorSampler(SamplerTestMixin):
    sampler_class = PredictorCorrectorSampler
    init_kwargs = {"num_steps": 8, "delta": 0.1, "num_corrector_steps": 1}
    covariance_steps = 100
    prediction_type = "v"

    def test_at_least_as_close_as_ancestral(self):
        # With few steps the ancestral sampler's marginals drift; the
        # Langevin corrector pulls them back toward q(z_s).
        oracle = self.make_oracle("eps")
        shape = (20000, self.num_frames, 1, 1, 1)
        errors = {}
        for cls in (AncestralSampler, PredictorCorrectorSampler):
            samples = cls(num_steps=25, progress=False)(oracle, shape, seed=0)
            errors[cls.__name__] = covariance_error(samples, oracle.covariance)
        print("covariance errors at 25 steps:", errors)
        assert errors["PredictorCorrectorSampler"] < errors["AncestralSampler"] - 0.01

    def test_more_corrector_steps_evaluate_more(self):
        oracle = self.make_oracle("eps")
        sampler = self.make_sampler(num_steps=4, num_corrector_steps=3)
        samples = sampler(oracle, (8, self.num_frames, 1, 1, 1), seed=0)
        assert tuple(samples.shape) == (8, self.num_frames, 1, 1, 1)

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"delta": 0.0}, "Received: delta=0.0"),
            ({"num_corrector_steps": -1}, "Received: num_corrector_steps=-1"),
        ],
    )
    def test_rejects_bad_arguments(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            PredictorCorrectorSampler(**kwargs)

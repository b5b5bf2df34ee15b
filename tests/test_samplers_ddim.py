import numpy as np
import pytest
from keras import ops

from kvdm.samplers import DDIMSampler
from sampler_test_case import SamplerTestMixin
from sampler_test_case import covariance_error


@pytest.mark.backends
class TestDDIMSampler(SamplerTestMixin):
    sampler_class = DDIMSampler
    init_kwargs = {"num_steps": 8}
    covariance_steps = 200
    prediction_type = "x"

    # Long statistics: on JAX and PyTorch in the slow pass only.
    @pytest.mark.backends_slow
    def test_few_steps_are_close(self):
        oracle = self.make_oracle("eps")
        samples = DDIMSampler(num_steps=20, progress=False)(
            oracle, (20000, self.num_frames, 1, 1, 1), seed=0
        )
        assert covariance_error(samples, oracle.covariance) < 0.2

    def test_is_deterministic_given_the_initial_noise(self):
        # One DDIM step from t = 1 to t = 1/2 and the final x_hat: for a
        # linear denoiser the output is a fixed linear map of z_1.
        oracle = self.make_oracle("eps")
        sampler = DDIMSampler(num_steps=2, progress=False)
        shape = (16, self.num_frames, 1, 1, 1)
        out = ops.convert_to_numpy(sampler(oracle, shape, seed=5)).reshape(16, -1)
        # The same seed drives the initial noise of any sampler.
        identity = DDIMSampler(num_steps=1, progress=False)
        z1 = ops.convert_to_numpy(
            identity(lambda z, l, c: z, shape, prediction_type="x", seed=5)
        ).reshape(16, -1)
        # Out is linear in z_1: the map is the same for every row.
        matrix, *_ = np.linalg.lstsq(z1, out, rcond=None)
        np.testing.assert_allclose(z1 @ matrix, out, atol=1e-4)

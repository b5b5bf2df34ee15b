import numpy as np
import pytest
from keras import ops

from kvdm.diffusion import CosineSchedule
from kvdm.diffusion import alpha_sigma
from kvdm.samplers import AncestralSampler
from kvdm.samplers.posterior import ancestral_variance
from kvdm.samplers.posterior import forward_variance
from kvdm.samplers.posterior import posterior_variance
from sampler_test_case import SamplerTestMixin


@pytest.mark.backends
class TestAncestralSampler(SamplerTestMixin):
    sampler_class = AncestralSampler
    init_kwargs = {"num_steps": 8}
    covariance_steps = 200
    prediction_type = "eps"

    # Long statistics: on JAX and PyTorch in the slow pass only.
    @pytest.mark.backends_slow
    def test_gamma_one_covariance(self):
        self.prediction_type = "v"
        self.init_kwargs = {"num_steps": 8, "gamma": 1.0}
        self.test_covariance_matches()

    @pytest.mark.parametrize("gamma", [0.0, 1.0])
    def test_step_variance_is_the_bound(self, gamma):
        schedule = CosineSchedule()
        logsnr_t = schedule(ops.convert_to_tensor([0.7, 0.3]))
        logsnr_s = schedule(ops.convert_to_tensor([0.6, 0.2]))
        lt, ls = (np.asarray(ops.convert_to_numpy(v), "float64") for v in (logsnr_t, logsnr_s))
        sigma2_t = 1 / (1 + np.exp(lt))
        sigma2_s = 1 / (1 + np.exp(ls))
        # Equation 3: tilde-sigma^2_{s|t}; equation 1: sigma^2_{t|s}.
        expected = (1 - np.exp(lt - ls)) * (sigma2_t if gamma else sigma2_s)
        sampler = AncestralSampler(gamma=gamma)
        got = ops.convert_to_numpy(sampler.step_variance(logsnr_t, logsnr_s))
        np.testing.assert_allclose(got, expected, rtol=1e-5)
        bound = forward_variance if gamma else posterior_variance
        np.testing.assert_allclose(
            ops.convert_to_numpy(bound(logsnr_t, logsnr_s)), expected, rtol=1e-5
        )
        middle = ops.convert_to_numpy(ancestral_variance(logsnr_t, logsnr_s, 0.5))
        np.testing.assert_allclose(
            middle, np.sqrt((1 - np.exp(lt - ls)) ** 2 * sigma2_t * sigma2_s), rtol=1e-5
        )

    @pytest.mark.parametrize("gamma", [0.0, 1.0])
    def test_sampled_step_has_the_bound_variance(self, gamma):
        # Two steps: one ancestral step 1 -> 1/2, then the output x_hat.
        # With x_hat(z) = z the output is z_{1/2} = c z_1 + sqrt(var) eps.
        def identity(z, logsnr, condition):
            return z

        sampler = AncestralSampler(num_steps=2, gamma=gamma, progress=False)
        samples = ops.convert_to_numpy(
            sampler(identity, (20000, 8, 1, 1, 1), prediction_type="x", seed=0)
        )
        schedule = CosineSchedule()
        lt = float(ops.convert_to_numpy(schedule(1.0)))
        ls = float(ops.convert_to_numpy(schedule(0.5)))
        alpha_t, _ = (float(ops.convert_to_numpy(v)) for v in alpha_sigma(lt))
        alpha_s, sigma_s = (float(ops.convert_to_numpy(v)) for v in alpha_sigma(ls))
        _, sigma_t = (float(ops.convert_to_numpy(v)) for v in alpha_sigma(lt))
        ratio = np.exp(lt - ls)
        gain = ratio * alpha_s / alpha_t + (1 - ratio) * alpha_s
        variance = (1 - ratio) * (sigma_t**2 if gamma else sigma_s**2)
        np.testing.assert_allclose(samples.var(), gain**2 + variance, rtol=0.03)

    def test_rejects_bad_gamma(self):
        with pytest.raises(ValueError, match="Received: gamma=1.5"):
            AncestralSampler(gamma=1.5)

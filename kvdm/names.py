"""The names a recipe can choose from, declared once.

`kvdm.config` validates recipes against these lists, and each registry
(`kvdm.samplers.registry`, `kvdm.diffusion.schedules`, ...) maps the same
names to implementations; a test checks that the two agree. This module
imports nothing, so that `kvdm.config` loads without a Keras backend.
"""

# `kvdm.samplers.get_sampler`.
SAMPLERS = ("ancestral", "predictor_corrector", "ddim")

# How known frames are imposed while sampling (section 3.1 of the paper),
# `kvdm.samplers.conditioning`.
CONDITIONING_METHODS = (
    "replacement",
    "replacement_conditional",
    "reconstruction_guidance",
    "context",
)

# Noise schedules in log-SNR space, `kvdm.diffusion.get_schedule`.
SCHEDULES = ("cosine",)

# What the denoiser predicts, `kvdm.diffusion.parameterization`.
PREDICTION_TYPES = ("eps", "v", "x")

# Data-space loss weightings `w(lambda)` of equation 2,
# `kvdm.diffusion.get_loss_weighting`.
LOSS_WEIGHTINGS = (
    "eps",
    "snr",
    "v",
    "snr_plus_one",
    "x",
    "constant",
    "truncated_snr",
    "min_snr",
)

# Data sets a recipe can name (`data.name`), `kvdm.data.make_dataset`.
DATASETS = (
    "moving_digits",
    "clips",
    "video_folder",
    "bair",
    "ucf101",
    "kinetics600",
    "moving_mnist",
)
# Other names `make_dataset` accepts, and the data set each one means.
DATASET_ALIASES = {
    "bair": "bair_robot_pushing_small",
    "kinetics": "kinetics600",
    "kinetics_600": "kinetics600",
}
# Data sets read from a folder of video files (`data.path`).
FOLDER_DATASETS = ("video_folder", "kinetics600")
# Data sets whose pipeline can draw independent image frames for joint
# training (`data.independent_images`).
IMAGE_FRAME_DATASETS = ("moving_digits", "clips")

# Keras backends kvdm runs on.
BACKENDS = ("tensorflow", "jax", "torch")

# How training spreads over the local devices (`train.distribution`),
# `kvdm.training.builders.distribution_scope`.
DISTRIBUTIONS = ("none", "data_parallel")

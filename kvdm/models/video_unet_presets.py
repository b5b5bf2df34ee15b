"""Architecture presets of `VideoUNet`, as data.

Each preset holds `VideoUNet` constructor arguments only; training
hyperparameters (learning rate, batch size, EMA, frameskip, sampler settings)
belong to recipes. The paper presets follow appendix A of Ho et al., 2022
(arXiv 2204.03458): attention at spatial resolutions 32, 16 and 8 and a
conditioning embedding of width 1024 for every model; text-to-video models
are conditioned on BERT-large embeddings (width 1024).
"""

_PAPER_SHARED = {
    "attention_resolutions": [32, 16, 8],
    "embedding_dim": 1024,
    "groups": 32,
}

VIDEO_UNET_PRESETS = {
    # A few thousand parameters, for tests: video (B, T, 16, 16, C).
    "tiny": {
        "base_channels": 8,
        "channel_multipliers": [1, 2],
        "num_res_blocks": 1,
        "attention_resolutions": [8, 4],
        "head_dim": 4,
        "dropout": 0.0,
        "num_mlp_layers": 2,
        "groups": 4,
    },
    # CPU training on 32x32 moving digits.
    "small": {
        "base_channels": 32,
        "channel_multipliers": [1, 2, 2],
        "num_res_blocks": 2,
        "attention_resolutions": [16, 8],
        "head_dim": 32,
        "dropout": 0.0,
        "num_mlp_layers": 2,
        "groups": 8,
    },
    # Unconditional UCF101, 16x64x64.
    "ucf101": {
        **_PAPER_SHARED,
        "base_channels": 256,
        "channel_multipliers": [1, 2, 4, 8],
        "num_res_blocks": 2,
        "head_dim": 64,
        "dropout": 0.1,
        "num_mlp_layers": 4,
    },
    # BAIR robot pushing, 64x64.
    "bair": {
        **_PAPER_SHARED,
        "base_channels": 128,
        "channel_multipliers": [1, 2, 3, 4],
        "num_res_blocks": 3,
        "head_dim": 64,
        "dropout": 0.1,
        "num_mlp_layers": 2,
    },
    # Kinetics-600, 64x64.
    "kinetics600": {
        **_PAPER_SHARED,
        "base_channels": 256,
        "channel_multipliers": [1, 2, 4, 8],
        "num_res_blocks": 2,
        "head_dim": 64,
        "dropout": 0.1,
        "num_mlp_layers": 2,
    },
    # Text-to-video, small, 16x64x64.
    "t2v_small": {
        **_PAPER_SHARED,
        "base_channels": 128,
        "channel_multipliers": [1, 2, 4, 8],
        "num_res_blocks": 2,
        "head_dim": 64,
        "dropout": 0.0,
        "num_mlp_layers": 4,
        "condition_dim": 1024,
    },
    # Text-to-video, large, 16x64x64.
    "t2v_large": {
        **_PAPER_SHARED,
        "base_channels": 256,
        "channel_multipliers": [1, 2, 4, 8],
        "num_res_blocks": 2,
        "head_dim": 64,
        "dropout": 0.0,
        "num_mlp_layers": 4,
        "condition_dim": 1024,
    },
    # Text-to-video, large, 9x128x128.
    "t2v_large_128": {
        **_PAPER_SHARED,
        "base_channels": 128,
        "channel_multipliers": [1, 2, 4, 8, 16],
        "num_res_blocks": 2,
        "head_dim": 128,
        "dropout": 0.0,
        "num_mlp_layers": 4,
        "condition_dim": 1024,
    },
}

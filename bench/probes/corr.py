"""Sampling a trained run from noise shared between frames (a probe, not a sampler option).

    python bench/probes/corr.py runs/preset-moving_digits 0 0.8 0.95

For each correlation, samples 64 videos with the run's recipe sampler from
initial noise whose frames share that correlation, and prints the
DigitEvaluator figures against 256 real test videos.
"""

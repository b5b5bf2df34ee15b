"""Keras Video Diffusion Models."""

__version__ = "0.1.0"

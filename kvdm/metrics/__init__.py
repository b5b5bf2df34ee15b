"""Sample-quality measures: feature networks, Frechet distances, evaluators."""

from kvdm.metrics.digit_evaluator import DigitEvaluator
from kvdm.metrics.digit_evaluator import shuffle_frames
from kvdm.metrics.frechet import frechet_distance

__all__ = ["DigitEvaluator", "frechet_distance", "shuffle_frames"]

"""Remakes the weights of the MovingDigits evaluator's frame classifier.

    python bench/train_digit_classifier.py [--epochs 4] [--output PATH]

Prints the held-out accuracy on frames of the test split.
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from kvdm.metrics.digit_evaluator import train_digit_classifier  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--num-videos", type=int, default=20_000)
    parser.add_argument("--output", default=None, help="weights file (default: the shipped one)")
    args = parser.parse_args()
    start = time.perf_counter()
    accuracy = train_digit_classifier(args.output, epochs=args.epochs, num_videos=args.num_videos)
    print(f"held-out frame accuracy: {accuracy:.4f} ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()

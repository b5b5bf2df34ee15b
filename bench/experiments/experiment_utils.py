"""Shared pieces of the bench/experiments scripts: arguments, data, tables, figures.

Every script loads a trained MovingDigits run, samples at a small scale,
scores the samples with `kvdm.metrics.DigitEvaluator` (and FVD where the
clips are long enough for I3D), and writes three files into its output
folder: `table.md`, `plot.png` and `samples.png`.
"""

import argparse
import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

RESULTS = pathlib.Path(__file__).resolve().parent / "results"


def parser(description, table, run, num_videos, num_steps):
    """The arguments every experiment takes, with its own small defaults.

    Args:
        description: str. The script's one-line summary.
        table: str. The name of its results folder.
        run: str. Default run folder.
        num_videos: int. Default number of videos per compared setting.
        num_steps: int. Default sampler steps.

    Returns:
        An `argparse.ArgumentParser` with `--run`, `--num-videos`,
        `--num-steps`, `--seed` and `--output`.
    """
    result = argparse.ArgumentParser(description=description)
    result.add_argument("--run", default=run, help=f"run folder (default: {run})")
    result.add_argument("--num-videos", type=int, default=num_videos,
                        help=f"videos per compared setting (default: {num_videos})")
    result.add_argument("--num-steps", type=int, default=num_steps,
                        help=f"sampler steps (default: {num_steps})")
    result.add_argument("--seed", type=int, default=0)
    result.add_argument("--output", default=str(RESULTS / table),
                        help=f"output folder (default: bench/experiments/results/{table})")
    return result


def real_videos(num_videos, num_frames, seed):
    """MovingDigits test videos in [-1, 1], their digits and captions.

    Seed 1 gives the held-out videos that conditional tasks start from and
    are compared with; seed 0 gives the reference set of the Frechet
    distances (different videos of the same split).

    Returns:
        `(videos, labels, captions)`: float32 `(N, T, 32, 32, 1)`, int
        `(N,)`, list of str.
    """
    from kvdm.data import MovingDigits

    source = MovingDigits("test", num_frames=num_frames, image_size=32, num_videos=num_videos, seed=seed)
    videos, captions = source.render(np.arange(num_videos))
    return videos.astype(np.float32) / 127.5 - 1.0, source.labels[:, 0], captions


def to_numpy(videos):
    """A sampler's output as a numpy array clipped to [-1, 1]."""
    import keras

    return np.clip(keras.ops.convert_to_numpy(videos), -1.0, 1.0).astype(np.float32)


def label_kept_per_frame(evaluator, videos, labels):
    """Share of videos whose frame `t` the classifier gives `labels`, per `t`."""
    probs, _ = evaluator.classify(videos)
    return (probs.argmax(axis=-1) == np.asarray(labels)[:, None]).mean(axis=0)


def format_cell(value):
    """A table cell: floats to 3 decimals, None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, (float, np.floating)):
        return f"{value:.3f}"
    return str(value)


def markdown_table(columns, rows):
    """A markdown table of `rows` (dicts) in the order of `columns`.

    Args:
        columns: list of `(key, header)` pairs.
        rows: list of dicts; a missing key shows as a dash.

    Returns:
        str, one line per row, ending in a newline.

    Example:

    >>> markdown_table([("a", "A")], [{"a": 1.0}])
    '| A |\\n| --- |\\n| 1.000 |\\n'
    """
    lines = ["| " + " | ".join(header for _, header in columns) + " |",
             "| " + " | ".join("---" for _ in columns) + " |"]
    for row in rows:
        lines.append("| " + " | ".join(format_cell(row.get(key)) for key, _ in columns) + " |")
    return "\n".join(lines) + "\n"


def write_report(output, title, table, notes, minutes):
    """Writes `table.md` (title, table, notes, time taken) and prints it."""
    output = pathlib.Path(output)
    output.mkdir(parents=True, exist_ok=True)
    text = f"# {title}\n\n{table}\n" + "".join(f"- {note}\n" for note in notes)
    text += f"- Wall time of the script: {minutes:.1f} minutes.\n"
    (output / "table.md").write_text(text)
    print(text)
    return output / "table.md"


def video_strip(video, every=1):
    """One video `(T, H, W, 1)` in [-1, 1] as a row of frames `(H, T' (W + 1))` in [0, 1]."""
    frames = np.clip((np.asarray(video)[::every, ..., 0] + 1.0) / 2.0, 0.0, 1.0)
    height, width = frames.shape[1:]
    padded = np.ones((len(frames), height, width + 1), np.float32)
    padded[:, :, :width] = frames
    return np.concatenate(list(padded), axis=1)


def save_grid(path, rows, every=1, title=None):
    """A PNG of labelled rows of frames, one video per row.

    Args:
        path: str or path. The PNG to write.
        rows: list of `(label, video)`; every video `(T, H, W, 1)` has the
            same shape.
        every: int. Show every `every`-th frame.
        title: str or None.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strips = [video_strip(video, every) for _, video in rows]
    height, width = strips[0].shape
    figure, axes = plt.subplots(len(rows), 1, figsize=(width / 40 + 1.6, len(rows) * height / 40 + 0.5),
                                squeeze=False)
    for axis, (label, _), strip in zip(axes[:, 0], rows, strips):
        axis.imshow(strip, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        axis.set_xticks([])
        axis.set_yticks([])
        axis.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
    if title:
        figure.suptitle(title, fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def new_figure(width=5.0, height=3.2):
    """A matplotlib figure and axis on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def save_figure(figure, path):
    """Writes a figure to a small PNG and closes it."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)


class Stopwatch:
    """Minutes since creation: `Stopwatch().minutes()`."""

    def __init__(self):
        self.start = time.perf_counter()

    def minutes(self):
        return (time.perf_counter() - self.start) / 60.0

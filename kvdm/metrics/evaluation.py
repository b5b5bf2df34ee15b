"""Running an evaluation protocol on a model: real videos, samples, scores, report.

Real videos are read batch by batch; each batch gives its I3D features and,
for prediction protocols, the context of the samples drawn from it, which
are scored as they come. Only the features are kept (50,000 Kinetics
samples would not fit in memory as videos), except for the MovingDigits
evaluator, which needs the videos of its small sets.
"""

import json
import os
import time

import numpy as np
from keras import ops
from tqdm.auto import tqdm

from kvdm.metrics import feature_distances
from kvdm.metrics import image_quality
from kvdm.metrics.protocols import FEATURE_NETWORKS
from kvdm.metrics.protocols import plan
from kvdm.metrics.score import Score


def check_model(protocol, video_shape):
    """Raises when the model's frames cannot be scored by the protocol."""
    _, height, width, channels = video_shape
    if protocol.image_size is not None and (height, width) != (protocol.image_size,) * 2:
        raise ValueError(
            f"The {protocol.name} protocol scores {protocol.image_size}x{protocol.image_size} videos; "
            f"the model makes {height}x{width} frames. Received: video_shape={tuple(video_shape)}"
        )
    expected = 1 if protocol.dataset == "moving_digits" else 3
    if channels != expected:
        raise ValueError(
            f"The {protocol.name} protocol's videos have {expected} channel(s); the model makes "
            f"{channels}. Received: video_shape={tuple(video_shape)}"
        )


def _to_float(videos):
    return np.asarray(videos, dtype=np.float32) / 127.5 - 1.0


def real_batches(protocol, video_shape, num_real, batch_size, seed=0, data_dir=None, data_path=None):
    """Yields the protocol's real videos, float32 `(b, T, H, W, C)` in [-1, 1].

    Args:
        protocol: `Protocol`.
        video_shape: the model's `(T, H, W, C)` (its frame size is used when
            the protocol names none).
        num_real: int. Videos to yield in all (fewer when the set is smaller).
        batch_size: int. Videos per batch.
        seed: int. Chooses the videos or windows where the protocol draws
            them at random.
        data_dir: str or None. TFDS data folder.
        data_path: str or None. Folder of Kinetics-600 clips.
    """
    size = protocol.image_size or video_shape[1]
    frames = protocol.num_frames
    if protocol.dataset == "moving_digits":
        from kvdm.data.moving_digits import MovingDigits

        source = MovingDigits(protocol.split, num_frames=frames, image_size=size, num_videos=num_real, seed=seed)
        for start in range(0, num_real, batch_size):
            videos, _ = source.render(np.arange(start, min(start + batch_size, num_real)))
            yield _to_float(videos)
        return
    if protocol.dataset == "kinetics600":
        yield from _kinetics_batches(protocol, size, num_real, batch_size, seed, data_path)
        return
    from kvdm.data import make_dataset

    options = dict(
        batch_size=batch_size,
        num_frames=frames,
        image_size=size,
        drop_remainder=False,
        data_dir=data_dir,
        seed=seed,
    )
    if protocol.context_frames:
        # The benchmark's test videos, in order, from their first frame.
        options.update(window="start", shuffle=False, repeat=False)
    else:
        options.update(window="random", shuffle=True, repeat=True)
    remaining = num_real
    for element in make_dataset(protocol.dataset, protocol.split, **options):
        videos = element["video"].numpy()[:remaining]
        remaining -= len(videos)
        yield videos
        if remaining <= 0:
            return


def _kinetics_batches(protocol, size, num_real, batch_size, seed, data_path):
    """Random 16-frame windows of test clips drawn without replacement."""
    from kvdm.data.decode import VideoDecodeError
    from kvdm.data.decode import crop_offsets
    from kvdm.data.decode import decode_video
    from kvdm.data.video_folder import VideoFolder

    folder = VideoFolder(data_path, protocol.split, num_frames=protocol.num_frames, image_size=size, crop="center")
    rng = np.random.default_rng(seed)
    batch = []
    found = 0
    for index in rng.permutation(len(folder.files)):
        if found >= num_real:
            break
        try:
            video = decode_video(os.path.join(folder.root, folder.files[index]), size=size)
        except (VideoDecodeError, FileNotFoundError):
            continue
        if len(video) < protocol.num_frames:
            continue
        start = int(rng.integers(0, len(video) - protocol.num_frames + 1))
        top, left = crop_offsets(video.shape[1], video.shape[2], size, "center")
        batch.append(video[start : start + protocol.num_frames, top : top + size, left : left + size])
        found += 1
        if len(batch) == batch_size:
            yield _to_float(np.stack(batch))
            batch = []
    if batch:
        yield _to_float(np.stack(batch))


def _generate(model, sampler, shape, seed, context=None):
    videos = sampler(model, shape, context=context, seed=seed)
    return np.clip(ops.convert_to_numpy(videos), -1.0, 1.0).astype(np.float32)


def evaluate(
    model,
    video_shape,
    protocol,
    sampler,
    num_samples=None,
    batch_size=8,
    seed=0,
    data_dir=None,
    data_path=None,
    progress=True,
    i3d=None,
):
    """Runs `protocol` on `model`: its samples against the real videos.

    Args:
        model: a `VideoDiffusion` (or any denoiser the sampler takes).
        video_shape: `(T, H, W, C)` the model was trained on.
        protocol: `Protocol` (`kvdm.metrics.protocols.get_protocol`).
        sampler: a `kvdm.samplers.Sampler` (its own progress bars off is
            best: this function shows one bar over the samples).
        num_samples: int or None. Generated videos (None: the protocol's
            count; see `plan` for how a protocol is scaled).
        batch_size: int. Videos per sampling and I3D call. Defaults to 8.
        seed: int. Seed of the real-video choice and of sampling.
        data_dir: str or None. TFDS data folder.
        data_path: str or None. Folder of Kinetics-600 clips.
        progress: bool. Show a progress bar. Defaults to True.
        i3d: `I3D` or None (built here).

    Returns:
        The report: a JSON-ready dict with the protocol, the counts, every
        score (value, num_samples, num_reference) and the time taken.
    """
    from kvdm.metrics.i3d import I3D

    check_model(protocol, video_shape)
    num_real, per_real = plan(protocol, num_samples)
    started = time.time()
    i3d = I3D() if i3d is None else i3d
    context = protocol.context_frames
    real_features, features = [], []
    psnr_values, ssim_values = [], []
    keep = "digits" in protocol.scores
    real_kept, generated_kept = [], []
    bar = tqdm(total=num_real * per_real, desc=f"eval {protocol.name}", unit="video", disable=not progress)
    batch_index = 0
    for real in real_batches(protocol, video_shape, num_real, batch_size, seed, data_dir, data_path):
        real_features.append(i3d.features(feature_distances.as_rgb(real, "real"), batch_size))
        if keep:
            real_kept.append(real)
        for _ in range(per_real):
            shape = (len(real), protocol.num_frames) + tuple(video_shape[1:])
            known = real[:, :context] if context else None
            generated = _generate(model, sampler, shape, seed + batch_index, known)
            batch_index += 1
            features.append(i3d.features(feature_distances.as_rgb(generated, "generated"), batch_size))
            if "psnr" in protocol.scores:
                psnr_values.append(image_quality.psnr_per_image(generated[:, context:], real[:, context:]))
            if "ssim" in protocol.scores:
                ssim_values.append(image_quality.ssim_per_image(generated[:, context:], real[:, context:]))
            if keep:
                generated_kept.append(generated)
            bar.update(len(real))
    bar.close()
    if not real_features:
        raise ValueError(f"The {protocol.name} protocol found no real videos. Received: num_real={num_real}")
    real_features = np.concatenate(real_features)
    features = np.concatenate(features)
    scores = {"fvd": feature_distances.frechet_score("fvd", real_features, features)}
    if "is_i3d" in protocol.scores:
        scores["is_i3d"] = feature_distances.inception_score(features, name="is_i3d")
    for name, values in (("psnr", psnr_values), ("ssim", ssim_values)):
        if values:
            values = np.concatenate(values)
            # One figure per video: the mean over its predicted frames.
            per_video = values.mean(axis=1)
            scores[name] = Score(name, float(per_video.mean()), len(per_video), std=float(per_video.std()))
    report = {
        "protocol": protocol.to_dict(),
        "num_samples": int(len(features)),
        "num_reference": int(len(real_features)),
        "follows_protocol": _full_size(protocol, len(real_features), len(features)),
        "scores": {name: score.to_dict() for name, score in scores.items()},
        "feature_networks": {"i3d": FEATURE_NETWORKS["i3d"]},
        "seed": seed,
    }
    if keep:
        from kvdm.metrics.digit_evaluator import DigitEvaluator

        evaluator = DigitEvaluator()
        real_videos = np.concatenate(real_kept)
        report["digits"] = {
            "generated": evaluator.evaluate(np.concatenate(generated_kept), reference=real_videos),
            "real": evaluator.evaluate(real_videos),
        }
    report["seconds"] = round(time.time() - started, 1)
    return report


def _full_size(protocol, num_reference, num_samples):
    expected_reference = protocol.num_reference or protocol.num_samples
    return num_samples == protocol.num_samples and num_reference == expected_reference


def _json_ready(value):
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return value if np.isfinite(value) else str(value)
    return value


def _format(value):
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def markdown_report(report):
    """A readable markdown page of a report."""
    protocol = report["protocol"]
    i3d = report["feature_networks"]["i3d"]
    lines = [
        f"# {protocol['title']}",
        "",
        f"Protocol `{protocol['name']}`: {protocol['paper']}",
        "",
    ]
    for key in ("source", "step", "video_shape", "sampler"):
        if key in report:
            lines.append(f"- {key.replace('_', ' ')}: `{report[key]}`")
    lines += [
        f"- samples: {report['num_samples']} generated, {report['num_reference']} real",
        f"- follows the protocol's sample counts: {'yes' if report['follows_protocol'] else 'no'}",
        f"- I3D input: {i3d['size'][0]}x{i3d['size'][1]}, {i3d['resize']} resize, features: {i3d['features']}",
        f"- time: {report['seconds']} s",
        "",
        "| score | value | samples | reference |",
        "|---|---|---|---|",
    ]
    for name, score in report["scores"].items():
        value = _format(score["value"])
        if score.get("std") is not None:
            value += f" ± {score['std']:.4f}"
        reference = score["num_reference"] if score["num_reference"] is not None else ""
        lines.append(f"| {name} | {value} | {score['num_samples']} | {reference} |")
    if "digits" in report:
        lines += ["", "MovingDigits evaluator (generated against real):", ""]
        lines += ["| figure | generated | real |", "|---|---|---|"]
        generated, real = report["digits"]["generated"], report["digits"]["real"]
        for key, value in generated.items():
            other = real.get(key, "")
            lines.append(f"| {key} | {_format(value)} | {_format(other)} |")
    return "\n".join(lines) + "\n"


def write_report(report, folder):
    """Writes `<protocol>.json` and `<protocol>.md` into `folder`; returns both paths."""
    os.makedirs(folder, exist_ok=True)
    name = report["protocol"]["name"]
    json_path = os.path.join(folder, f"{name}.json")
    markdown_path = os.path.join(folder, f"{name}.md")
    with open(json_path, "w") as file:
        json.dump(_json_ready(report), file, indent=2)
        file.write("\n")
    with open(markdown_path, "w") as file:
        file.write(markdown_report(report))
    return json_path, markdown_path

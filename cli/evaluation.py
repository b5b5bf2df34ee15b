"""What `kvdm eval` does, around `kvdm.metrics.evaluation`.

`check_options` and `check_inputs` import neither Keras nor TensorFlow
(except that checking a TFDS data set imports TensorFlow), so that a bad
protocol, count, missing data set or missing weight package is refused
before a model is loaded; `run` does the work.
"""

import os

from kvdm.cli import logs
from kvdm.metrics import protocols

PROTOCOL_NAMES = tuple(protocols.PROTOCOLS)


def check_options(protocol, num_samples, batch_size):
    """Validates the command-line values; returns the `Protocol`."""
    protocol = protocols.get_protocol(protocol)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer. Received: batch_size={batch_size!r}")
    protocols.plan(protocol, num_samples)
    return protocol


def check_inputs(protocol, data_dir=None, data_path=None):
    """Fails fast when the real videos or the I3D weights are missing."""
    if protocol.dataset in protocols.TFDS_DATASETS:
        # Looking for a TFDS set imports TensorFlow: quietly.
        logs.import_libraries(with_tensorflow=True)
    from kvdm.metrics import weight_files

    protocols.check_data(protocol, data_dir=data_dir, data_path=data_path)
    weight_files.package_file(*weight_files.I3D_WEIGHTS)


def default_output(source):
    """`<run folder>/eval` for a folder, `<folder of the file>/eval` for a
    file, `./eval` for a preset name."""
    if os.path.isdir(source):
        return os.path.join(source, "eval")
    if os.path.isfile(source):
        return os.path.join(os.path.dirname(os.path.abspath(source)), "eval")
    return "eval"


def run(loaded, protocol, sample_config, output, num_samples=None, batch_size=8, data_dir=None,
        data_path=None):
    """Evaluates a loaded model; writes the JSON and markdown reports.

    Returns:
        `(report, json_path, markdown_path)`.
    """
    from kvdm.metrics import evaluation
    from kvdm.training.sampling import make_sampler

    evaluation.check_model(protocol, loaded.video_shape)
    sampler = make_sampler(sample_config, progress=False)
    report = evaluation.evaluate(
        loaded.model, loaded.video_shape, protocol, sampler, num_samples=num_samples,
        batch_size=batch_size, seed=sample_config.seed, data_dir=data_dir, data_path=data_path)
    report["source"] = str(loaded.source)
    report["step"] = loaded.step
    report["video_shape"] = list(loaded.video_shape)
    report["sampler"] = {
        "name": sample_config.sampler, "num_steps": sample_config.num_steps,
        "conditioning": sample_config.conditioning, "seed": sample_config.seed}
    json_path, markdown_path = evaluation.write_report(report, output)
    return report, json_path, markdown_path

"""XLA's CPU flags that the `kvdm` command sets on JAX."""

import json
import os
import subprocess
import sys

from kvdm.cli import xla_flags

CHECKED = (0, 10, 2)


def test_flag_is_added_only_for_jax_on_a_checked_jaxlib():
    assert xla_flags.flags_for({}, "jax", CHECKED) == xla_flags.SETTING
    # Flags of the user's own are kept, the setting goes after them.
    assert (xla_flags.flags_for({"XLA_FLAGS": "--xla_dump_to=/tmp/x"}, "jax", CHECKED)
            == "--xla_dump_to=/tmp/x " + xla_flags.SETTING)
    for case in [
        ({}, "tensorflow", CHECKED),
        ({}, "torch", CHECKED),
        ({xla_flags.SWITCH: "0"}, "jax", CHECKED),
        # A choice of the user's own is left alone, whatever it is.
        ({"XLA_FLAGS": xla_flags.FLAG + "="}, "jax", CHECKED),
        ({}, "jax", None),  # jaxlib not installed
        ({}, "jax", (0, 8, 2)),
        ({}, "jax", (0, 11, 0)),
    ]:
        assert xla_flags.flags_for(*case) is None, case
    for version in [(0, 8, 3), (0, 9, 0, 1), (0, 10, 0), (0, 10, 9)]:
        assert xla_flags.flags_for({}, "jax", version) == xla_flags.SETTING, version


def test_versions_are_read_up_to_the_first_part_that_is_not_a_number():
    assert xla_flags.parse_version("0.10.2") == (0, 10, 2)
    assert xla_flags.parse_version("0.9.0.1") == (0, 9, 0, 1)
    assert xla_flags.parse_version("0.11.0.dev20270101") == (0, 11, 0)
    assert xla_flags.parse_version("dev") is None


def test_backend_is_read_as_keras_reads_it(tmp_path):
    config = tmp_path / "keras.json"
    config.write_text(json.dumps({"backend": "jax", "floatx": "float32"}))
    home = {"KERAS_HOME": str(tmp_path)}
    assert xla_flags.keras_backend(home) == "jax"
    # The variable wins over the file.
    assert xla_flags.keras_backend(dict(home, KERAS_BACKEND="torch")) == "torch"
    config.write_text("{not json")
    assert xla_flags.keras_backend(home) == "tensorflow"
    assert xla_flags.keras_backend({"KERAS_HOME": str(tmp_path / "none")}) == "tensorflow"


def test_installed_jaxlib_runs_with_the_flag_the_command_sets():
    """The command's setting starts JAX on this jaxlib (XLA would stop on an
    unknown flag), and a convolution gives the same result as without it."""
    code = (
        "from kvdm.cli import xla_flags\n"
        "print('set', xla_flags.apply())\n"
        "import jax, jax.numpy as jnp, numpy as np\n"
        "x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 8, 8, 3)), 'float32')\n"
        "k = jnp.asarray(np.random.default_rng(1).standard_normal((3, 3, 3, 4)), 'float32')\n"
        "y = jax.lax.conv_general_dilated(x, k, (1, 1), 'SAME',"
        " dimension_numbers=('NHWC', 'HWIO', 'NHWC'))\n"
        "print('sum', repr(float(jnp.sum(y * y))))\n"
    )
    environ = {key: value for key, value in os.environ.items()
               if key not in ("XLA_FLAGS", xla_flags.SWITCH)}
    environ["KERAS_BACKEND"] = "jax"
    runs = []
    for extra in ({}, {xla_flags.SWITCH: "0"}):
        done = subprocess.run([sys.executable, "-c", code], env=dict(environ, **extra),
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        runs.append(done.stdout.splitlines())
    with_flag, without = runs
    assert xla_flags.jaxlib_version() is not None
    assert with_flag[0] == f"set {xla_flags.SETTING}"
    assert without[0] == "set None"
    assert abs(float(with_flag[1].split()[1]) / float(without[1].split()[1]) - 1) < 1e-5

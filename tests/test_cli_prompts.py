"""`kvdm sample --prompt`: bad prompts are refused before Keras is loaded."""

import json
import os
import subprocess
import sys

import yaml

# A run folder as far as the checks before loading see it: its recipe.
TEXT_RECIPE = {
    "data": {"name": "moving_digits", "num_frames": 4, "image_size": 16},
    "model": {"preset": "tiny", "text_encoder": "minilm_l6"},
    "sample": {"sampler": "ddim", "num_steps": 2, "guidance_weight": 2.0},
}

CHECK = """
import json, sys
from click.testing import CliRunner
from kvdm.cli.main import cli
outputs = [CliRunner().invoke(cli, args).output
           for args in json.loads(sys.argv[1])]
loaded = [m for m in ("keras", "tensorflow", "jax", "torch")
          if m in sys.modules]
print(json.dumps({"outputs": outputs, "loaded": loaded}))
"""


def _run_folder(path, recipe):
    path.mkdir()
    (path / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    return str(path)


def test_bad_prompts_are_refused_before_keras_is_imported(tmp_path):
    text = _run_folder(tmp_path / "text", TEXT_RECIPE)
    plain = _run_folder(tmp_path / "plain", dict(
        TEXT_RECIPE, model={"preset": "tiny"}, sample={}))
    large = _run_folder(tmp_path / "large", dict(
        TEXT_RECIPE, model={"preset": "t2v_small",
                            "text_encoder": "bert_large"}))
    out = str(tmp_path / "out.gif")
    cases = [
        (["sample", text, "--prompt", ""], "The prompt is empty"),
        (["sample", text, "--prompt", "ok", "--prompt", "  "],
         "The prompt is empty"),
        (["sample", text, "--prompt", "digit " * 255],
         "257 tokens long"),
        # A command-line argument that is not UTF-8, as Python passes it.
        (["sample", text, "--prompt", "seven \udcff"],
         "not valid UTF-8 text"),
        (["sample", plain, "--prompt", "the digit 7 moves left"],
         "text-conditioned"),
        (["sample", large, "--prompt", "the digit 7 moves left"],
         "is not on this machine"),
        (["sample", text, "--prompt", "the digit 7 moves left",
          "--guidance-weight", "-1"], "sample.guidance_weight"),
    ]
    env = dict(os.environ, KAGGLEHUB_CACHE=str(tmp_path / "no_cache"))
    env.pop("KERAS_BACKEND", None)
    result = subprocess.run(
        [sys.executable, "-c", CHECK,
         json.dumps([args + ["--output", out] for args, _ in cases])],
        capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    for (args, words), output in zip(cases, report["outputs"]):
        assert output.startswith("Error:") or "Error:" in output, (args, output)
        assert words in output, (words, output)
        assert "Traceback" not in output
    assert report["loaded"] == []


def test_undecodable_prompt_bytes_in_a_new_process(tmp_path):
    text = _run_folder(tmp_path / "text", TEXT_RECIPE)
    result = subprocess.run(
        [sys.executable, "-m", "kvdm.cli.main", "sample", text, "--prompt",
         b"the digit \xff moves", "--output", str(tmp_path / "o.gif")],
        capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines()
              if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert "not valid UTF-8" in errors[0] and "\\xff" in errors[0]

"""Every code block of the documentation runs, or is checked, here.

The blocks and their annotations are read by docs/scripts/doc_blocks.py (the
format is described there and on the site's "How the docs are tested"
page). The default pass checks every block without running a model (Python
compiles and its kvdm imports resolve, `kvdm` command lines parse against
the real Click commands and their recipes validate with their `--set`
overrides, YAML snippets are valid recipe sections, install lines use the
project's pins) and runs the pages whose blocks are quick Python. The slow
pass (`-m slow`) runs the other pages: their shell blocks in a scratch
folder with small fixtures (a tiny trained run as `runs/moving_digits`,
`input.mp4` and `low_res.mp4`), after their `replace` substitutions.
"""

import ast
import importlib
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "scripts"))

import doc_blocks  # noqa: E402

# At most this many blocks may be marked `not-run`; each is listed, with its
# reason, on the site (reference/docs-tests.md).
MAX_NOT_RUN = 8
# Languages a fence may have; the ones in doc_blocks.RUN_LANGUAGES are
# tested, the others are output or diagrams.
SHOWN_LANGUAGES = {"text", "csv", ""}
# Shell commands the blocks may use.
KNOWN_COMMANDS = {"kvdm", "python", "pip", "mkdocs", "tensorboard", "mkdir", "cp", "ls",
                  "python3", ".", "source", "export", "cd"}

PAGES = doc_blocks.pages()
BLOCKS = doc_blocks.all_blocks()


def _blocks(lang):
    return [b for b in BLOCKS if b.lang == lang]


def _ids(blocks):
    return [b.where for b in blocks]


def _runs_shell(path):
    return any(
        b.lang == "bash" and not b.not_run and doc_blocks.runnable_shell(b.code).strip()
        for b in doc_blocks.page_blocks(path))


def _runs_anything(path):
    return any(b.lang in ("python", "bash") and not b.not_run for b in doc_blocks.page_blocks(path))


def _is_slow(path):
    return bool(doc_blocks.page_options(path).get("slow")) or _runs_shell(path)


# -- checks of every block (default pass) --------------------------------------


def test_blocks_are_annotated_correctly():
    assert PAGES, "no pages found under docs/"
    for path in PAGES:
        doc_blocks.page_options(path)
    languages = {b.lang for b in BLOCKS}
    assert languages <= set(doc_blocks.RUN_LANGUAGES) | SHOWN_LANGUAGES, languages
    for block in BLOCKS:
        block.code  # every `replace` must match
        if block.lang not in doc_blocks.RUN_LANGUAGES:
            assert not block.options, f"{block.where}: annotations only apply to tested blocks"
    not_run = [b for b in BLOCKS if b.not_run]
    listing = "\n".join(f"  {b.where}: {b.not_run}" for b in not_run)
    print(f"{len(not_run)} blocks are not run:\n{listing}")
    assert len(not_run) <= MAX_NOT_RUN, f"too many blocks marked not-run:\n{listing}"


def test_annotations_fail_loudly(tmp_path):
    page = tmp_path / "page.md"
    page.write_text('<!-- test\nreplace:\n  - ["absent", "x"]\n-->\n```python\nprint(1)\n```\n')
    (block,) = doc_blocks.page_blocks(page, docs=tmp_path)
    with pytest.raises(doc_blocks.AnnotationError, match="does not occur"):
        block.code
    page.write_text("<!-- test\nnot-run: data\n-->\n```bash\nkvdm info x\n```\n")
    with pytest.raises(doc_blocks.AnnotationError, match="reason"):
        doc_blocks.page_blocks(page, docs=tmp_path)
    page.write_text("<!-- test\nskip: true\n-->\n```bash\nkvdm info x\n```\n")
    with pytest.raises(doc_blocks.AnnotationError, match="unknown annotation"):
        doc_blocks.page_blocks(page, docs=tmp_path)


def _kvdm_imports(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("kvdm"):
            for alias in node.names:
                yield node.module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("kvdm"):
                    yield alias.name, None


@pytest.mark.parametrize("block", _blocks("python"), ids=_ids(_blocks("python")))
def test_python_block_compiles_and_imports_resolve(block):
    tree = ast.parse(block.code, filename=block.where)
    for module, name in _kvdm_imports(tree):
        imported = importlib.import_module(module)
        if name is not None:
            assert hasattr(imported, name), f"{block.where}: {module} has no {name}"


def _check_kvdm_command(argv, where):
    """Parses a `kvdm ...` command line with the real Click commands."""
    import click

    from kvdm.cli.main import cli
    from kvdm.config import load_recipe

    args = argv[1:]
    try:
        context = cli.make_context("kvdm", list(args), resilient_parsing=False)
    except click.exceptions.Exit as done:  # --help, --version
        assert done.exit_code == 0, f"{where}: `{' '.join(argv)}` exits with {done.exit_code}"
        return None
    with context:
        rest = list(context._protected_args) + list(context.args)
        name, command, rest = cli.resolve_command(context, rest)
        try:
            sub = command.make_context(name, list(rest), parent=context)
        except click.UsageError as error:
            raise AssertionError(f"{where}: `{' '.join(argv)}` does not parse: {error}") from None
        if name == "train":
            recipe = ROOT / sub.params["recipe"]
            if recipe.exists():
                load_recipe(str(recipe), overrides=list(sub.params["overrides"]))
    return name


def _check_install(argv, where):
    text = " ".join(argv)
    pins = re.findall(r"([\w-]+)==([\w.+-]+)", text)
    ci = (ROOT / ".ci" / "run").read_text() + (ROOT / "pyproject.toml").read_text()
    for name, version in pins:
        assert f"{name}=={version}" in ci, f"{where}: {name}=={version} is not the pin of .ci/run or pyproject.toml"
    extras = re.findall(r'-e "?\.\[([\w,]+)\]', text)
    if extras:
        optional = (ROOT / "pyproject.toml").read_text()
        for extra in extras[0].split(","):
            assert re.search(rf"^{extra} = \[", optional, re.M), f"{where}: no extra {extra!r} in pyproject.toml"


@pytest.mark.parametrize("block", _blocks("bash"), ids=_ids(_blocks("bash")))
def test_shell_block_commands_are_valid(block):
    commands = doc_blocks.commands(block.code)
    assert commands, f"{block.where}: empty shell block"
    for argv in commands:
        while argv and re.match(r"^[A-Z_]+=", argv[0]):
            argv = argv[1:]
        assert argv[0] in KNOWN_COMMANDS, f"{block.where}: unexpected command {argv[0]!r}"
        if doc_blocks.is_install(argv):
            _check_install(argv, block.where)
        elif argv[0] == "kvdm":
            _check_kvdm_command(argv, block.where)
        elif argv[0] in ("python", "python3") and argv[1:2] != ["-m"] and argv[1:2] != ["-c"]:
            assert (ROOT / argv[1]).is_file(), f"{block.where}: no script {argv[1]}"


@pytest.mark.parametrize("block", _blocks("yaml"), ids=_ids(_blocks("yaml")))
def test_yaml_block_is_a_valid_recipe(block):
    from kvdm.config import Recipe

    values = yaml.safe_load(block.code)
    # A snippet may leave out the sections and keys a recipe defaults.
    recipe = Recipe.from_dict(values)
    assert recipe is not None


def test_every_public_name_is_in_the_api_reference():
    """Each name a package exports appears as a `::: ` directive."""
    import kvdm.data
    import kvdm.diffusion
    import kvdm.io
    import kvdm.layers
    import kvdm.metrics
    import kvdm.models
    import kvdm.samplers
    import kvdm.text

    constants = re.compile(r"^[A-Z][A-Z0-9_]+$")
    for package in (kvdm.layers, kvdm.models, kvdm.diffusion, kvdm.samplers, kvdm.text,
                    kvdm.metrics, kvdm.data, kvdm.io):
        short = package.__name__.split(".")[1]
        page = (ROOT / "docs" / "reference" / "api" / f"{short}.md").read_text()
        documented = {line.split()[-1].rsplit(".", 1)[-1] for line in page.splitlines() if line.startswith(":::")}
        names = getattr(package, "__all__", None) or [
            n for n in vars(package) if not n.startswith("_") and not isinstance(getattr(package, n), type(package))]
        missing = sorted(n for n in names if not constants.match(n) and n not in documented)
        assert not missing, f"docs/reference/api/{short}.md misses {missing}"


def test_generated_reference_tables():
    import mkdocs_hooks

    fields = mkdocs_hooks.recipe_fields()
    from kvdm.config import recipe as recipe_module
    from kvdm.config.fields import describe

    for cls in recipe_module.section_classes().values():
        for key, *_ in describe(cls):
            assert f"| `{key}` |" in fields
    assert "| `train.steps` | an integer | `10000` | >= 1 |" in fields
    assert "`recipes/moving_digits.yaml`" in mkdocs_hooks.recipe_files()
    assert "| `tiny` |" in mkdocs_hooks.unet_presets()


# -- running the pages ------------------------------------------------------------


def _write_input_videos(folder):
    from kvdm.data import MovingDigits
    from kvdm.io import write_mp4

    videos = [np.asarray(element["video"]) for _, element in zip(range(2), MovingDigits(
        split="test", num_frames=8, image_size=32).as_dataset(batch_size=1))]
    write_mp4(folder / "input.mp4", videos[0][0])
    small = videos[1][0].reshape(8, 16, 2, 16, 2, 1).mean(axis=(2, 4))
    write_mp4(folder / "low_res.mp4", small)


def _workspace(tmp_path, options, request):
    work = tmp_path / "work"
    work.mkdir()
    (work / "recipes").symlink_to(ROOT / "recipes")
    (work / "bench").symlink_to(ROOT / "bench")
    (work / "docs").mkdir()
    (work / "docs" / "scripts").symlink_to(ROOT / "docs" / "scripts")
    fixtures = options.get("fixtures", [])
    if "tiny_run" in fixtures:
        run = request.getfixturevalue("trained_run")
        shutil.copytree(run.folder, work / "runs" / "moving_digits")
    if "input_videos" in fixtures:
        _write_input_videos(work)
    return work


def _in_process(argv):
    """Whether a command can run through Click in this process.

    `kvdm` commands on this process's backend do: that saves starting
    Python and TensorFlow for each (about 10 s of CPU). Others, and
    commands that pick another backend, run in a shell.
    """
    if argv[0] != "kvdm":
        return False  # other programs, and commands with environment variables
    if "--backend" in argv:
        import keras

        return argv[argv.index("--backend") + 1] == keras.config.backend()
    return True


def _run_in_process(argv, where):
    """Runs a `kvdm` command through Click; False if it needs another backend."""
    from click.testing import CliRunner

    from kvdm.cli.main import cli

    result = CliRunner().invoke(cli, argv[1:])
    if result.exit_code == 2 and "Keras is already loaded with backend" in result.output:
        return False  # the recipe names another backend
    assert result.exit_code == 0, f"{where}: `{' '.join(argv)}` failed:\n{result.output[-3000:]}\n{result.exception!r}"
    return True


def _run_shell(code, work, where):
    for argv in doc_blocks.commands(code):
        if doc_blocks.is_install(argv):
            continue
        if not (_in_process(argv) and _run_in_process(argv, where)):
            _run_subprocess(doc_blocks.runnable_shell(" ".join(shlex.quote(t) for t in argv)), work, where)


def _run_subprocess(script, work, where):
    env = dict(os.environ)
    env["PATH"] = f"{pathlib.Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=work, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{where} failed:\n{script}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"


def run_page(path, tmp_path, request, monkeypatch):
    """Runs one page's blocks in order; Python shares one namespace."""
    options = doc_blocks.page_options(path)
    work = _workspace(tmp_path, options, request)
    monkeypatch.chdir(work)
    namespace = {"__name__": "__docs__"}
    timings = []
    for block in doc_blocks.page_blocks(path):
        if block.not_run or (block.lang not in ("python", "bash") and "file" not in block.options):
            continue
        start = time.perf_counter()
        if "file" in block.options:
            (work / block.options["file"]).write_text(block.code)
        if "setup" in block.options:
            exec(compile(block.options["setup"], f"{block.where} (setup)", "exec"), namespace)
        if block.lang == "python":
            exec(compile(block.code, block.where, "exec"), namespace)
        elif block.lang == "bash":
            _run_shell(block.code, work, block.where)
        timings.append((block.where, time.perf_counter() - start))
    print("\n".join(f"{where}: {seconds:.1f} s" for where, seconds in timings))
    return namespace


def _page_params():
    params = []
    for path in PAGES:
        if not _runs_anything(path):
            continue
        page = path.relative_to(doc_blocks.DOCS).as_posix()
        marks = [pytest.mark.slow] if _is_slow(path) else []
        params.append(pytest.param(path, id=page, marks=marks))
    return params


@pytest.mark.parametrize("path", _page_params())
def test_page_runs(path, tmp_path, request, monkeypatch):
    run_page(path, tmp_path, request, monkeypatch)

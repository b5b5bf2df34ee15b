"""The fenced code blocks of the documentation and their test annotations.

Every ```python, ```bash and ```yaml block under docs/ is run or checked by
tests/test_docs.py. An HTML comment right above a block (invisible on the
site) says how to run it at small settings:

    <!-- test
    replace:
      - ["--num-videos 8", "--num-videos 2"]
    -->

The body after `test` is YAML with these keys:

- `replace`: list of `[old, new]` pairs applied to the block before it runs;
  every `old` must occur in the block, so a stale substitution fails.
- `setup`: Python run (hidden) before the block, in the page's namespace.
- `file`: write the block (after `replace`) to this path of the scratch
  folder, for a recipe that a later command reads.
- `not-run`: the reason the block cannot run here (data on disk, a
  download, an accelerator). Such blocks are still checked: Python compiles
  and its kvdm imports resolve, `kvdm` commands parse and their recipes
  with `--set` overrides validate. reference/docs-tests.md lists them.

A page may carry `<!-- test-page {...} -->` with `fixtures` (a list of
"tiny_run": a tiny trained run as `runs/moving_digits`, and
"input_videos": `input.mp4` and `low_res.mp4`) and `slow: true`.

This module is plain Python (no Keras), shared by the mkdocs hook and the
tests.
"""

import dataclasses
import pathlib
import re
import shlex

import yaml

DOCS = pathlib.Path(__file__).resolve().parents[1]
RUN_LANGUAGES = ("python", "bash", "yaml")
BLOCK_KEYS = {"replace", "setup", "not-run", "file"}
PAGE_KEYS = {"fixtures", "slow"}
FIXTURES = ("tiny_run", "input_videos")

_FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w+-]*)\s*$")
_PAGE = re.compile(r"<!--\s*test-page\b(?P<body>.*?)-->", re.S)
# Commands that set up an environment: checked against the project's pins,
# never executed by the tests (they would reinstall packages).
INSTALL_PREFIXES = ("pip install", "python3 -m venv", "python -m venv",
                    ". .venv/bin/activate", "source .venv/bin/activate",
                    "sudo apt-get install", "apt-get install")


class AnnotationError(ValueError):
    """A test annotation in the docs is malformed."""


@dataclasses.dataclass
class Block:
    """One fenced code block."""

    page: str
    line: int
    lang: str
    source: str
    options: dict

    @property
    def where(self):
        return f"{self.page}:{self.line}"

    @property
    def not_run(self):
        return self.options.get("not-run")

    @property
    def code(self):
        """The block with its `replace` substitutions applied."""
        code = self.source
        for old, new in self.options.get("replace", []):
            if old not in code:
                raise AnnotationError(
                    f"{self.where}: the substitution {old!r} does not occur "
                    "in the block."
                )
            code = code.replace(old, new)
        return code


def _parse_annotation(text, where, keys):
    body = text.strip()
    if not body:
        return {}
    try:
        options = yaml.safe_load(body)
    except yaml.YAMLError as error:
        raise AnnotationError(f"{where}: unreadable annotation: {error}") from None
    if not isinstance(options, dict):
        raise AnnotationError(f"{where}: an annotation is a YAML mapping. Received: {body!r}")
    unknown = set(options) - keys
    if unknown:
        raise AnnotationError(f"{where}: unknown annotation keys {sorted(unknown)}; known: {sorted(keys)}")
    return options


def _check_block_options(options, where):
    for pair in options.get("replace", []):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise AnnotationError(f"{where}: `replace` takes [old, new] pairs of strings. Received: {pair!r}")
    reason = options.get("not-run")
    if reason is not None and (not isinstance(reason, str) or len(reason.split()) < 3):
        raise AnnotationError(f"{where}: `not-run` needs a reason of a few words. Received: {reason!r}")
    if "setup" in options and not isinstance(options["setup"], str):
        raise AnnotationError(f"{where}: `setup` is Python source text.")


def _annotation_above(lines, index):
    """The body of a `<!-- test ... -->` comment ending right above line `index`."""
    end = index - 1
    while end >= 0 and not lines[end].strip():
        end -= 1
    if end < 0 or not lines[end].rstrip().endswith("-->"):
        return None
    start = end
    while start >= 0 and "<!--" not in lines[start]:
        start -= 1
    if start < 0:
        return None
    comment = "\n".join(line.strip() if i == start else line for i, line in enumerate(lines[start:end + 1], start))
    match = re.match(r"\s*<!--\s*test(?![-\w])(?P<body>.*)-->\s*$", comment, re.S)
    return None if match is None else match.group("body")


def page_options(path):
    """The `test-page` options of a page (`{}` when it has none)."""
    text = pathlib.Path(path).read_text()
    matches = list(_PAGE.finditer(text))
    if len(matches) > 1:
        raise AnnotationError(f"{path}: more than one test-page annotation")
    if not matches:
        return {}
    options = _parse_annotation(matches[0].group("body"), str(path), PAGE_KEYS)
    unknown = set(options.get("fixtures", [])) - set(FIXTURES)
    if unknown:
        raise AnnotationError(f"{path}: unknown fixtures {sorted(unknown)}; known: {FIXTURES}")
    return options


def page_blocks(path, docs=DOCS):
    """All fenced blocks of one page, in order."""
    path = pathlib.Path(path)
    lines = path.read_text().splitlines()
    page = path.relative_to(docs).as_posix()
    blocks = []
    index = 0
    while index < len(lines):
        match = _FENCE.match(lines[index])
        if not match:
            index += 1
            continue
        indent, lang = match.group("indent"), match.group("lang")
        close = index + 1
        while close < len(lines) and lines[close].rstrip() != indent + "```":
            close += 1
        if close == len(lines):
            raise AnnotationError(f"{page}:{index + 1}: unclosed code block")
        body = [line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[index + 1:close]]
        where = f"{page}:{index + 1}"
        annotation = _annotation_above(lines, index)
        options = {} if annotation is None else _parse_annotation(annotation, where, BLOCK_KEYS)
        _check_block_options(options, where)
        blocks.append(Block(page, index + 1, lang, "\n".join(body) + "\n", options))
        index = close + 1
    return blocks


def pages(docs=DOCS):
    """The markdown pages under docs/, sorted."""
    return sorted(p for p in pathlib.Path(docs).rglob("*.md") if "scripts" not in p.relative_to(docs).parts)


def all_blocks(docs=DOCS):
    return [block for path in pages(docs) for block in page_blocks(path, docs)]


def logical_lines(code):
    """Shell lines with `\\` continuations joined and comments dropped."""
    joined = code.replace("\\\n", " ")
    result = []
    for line in joined.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        result.append(stripped)
    return result


def commands(code):
    """The simple commands of a shell block: `a && b` gives two, in order."""
    found = []
    for line in logical_lines(code):
        tokens = shlex.split(line, comments=True)
        current = []
        for token in tokens + ["&&"]:
            if token in ("&&", ";", "||"):
                if current:
                    found.append(current)
                current = []
            else:
                current.append(token)
    return found


def is_install(command):
    text = " ".join(command)
    return text.startswith(INSTALL_PREFIXES)


def runnable_shell(code):
    """The block without its install commands, one command per line."""
    kept = [" ".join(shlex.quote(t) for t in command) for command in commands(code) if not is_install(command)]
    return "\n".join(kept)

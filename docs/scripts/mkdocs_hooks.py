"""mkdocs hooks: reference tables generated from the code at build time.

A page asks for a table with a marker comment on a line of its own:

- `<!-- generated: recipe-fields -->`: every recipe field, from the config
  classes of `kvdm.config` (type, default, allowed values, meaning);
- `<!-- generated: recipe-files -->`: the recipes in recipes/, with the
  first paragraph of their header comment;
- `<!-- generated: unet-presets -->`: the `VideoUNet` architecture presets;
- `<!-- generated: not-run-blocks -->`: the code blocks of these docs that
  the tests cannot run, with their reasons.

So the reference cannot drift from the code: it is rebuilt from it.
"""

import dataclasses
import inspect
import pathlib
import re
import runpy
import sys
import typing

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import doc_blocks  # noqa: E402

_MARKER = re.compile(r"^<!-- generated: (?P<name>[\w-]+) -->$", re.M)


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _code(value):
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, (list, tuple)):
        return "`[" + ", ".join(str(v) for v in value) + "]`"
    if isinstance(value, str):
        return f'`"{value}"`'
    return f"`{value}`"


def _arg_docs(cls):
    """`{name: text}` from the `Args:` section of a class docstring."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    match = re.search(r"^Args:\n(?P<body>(?:[ ]{4}.*\n?|\n)+)", doc, re.M)
    if not match:
        return {}
    entries, name = {}, None
    for line in match.group("body").splitlines():
        item = re.match(r"^ {4}(?P<name>\w+): (?P<text>.*)$", line)
        if item:
            name = item.group("name")
            entries[name] = item.group("text")
        elif name and line.strip():
            entries[name] += " " + line.strip()
    cleaned = {}
    for name, text in entries.items():
        # "int or None. Meaning. Defaults to X." -> "Meaning."
        text = re.sub(r"^[\w ,]+?\.\s+", "", text, count=1)
        text = re.sub(r"\s*Defaults to [^.]*(\.[^\s.][^.]*)*\.?(?=\s|$)", "", text).strip()
        cleaned[name] = text
    return cleaned


def _allowed(meta):
    parts = []
    if meta.get("choices"):
        parts.append(", ".join(_code(c) for c in meta["choices"]))
    for key, symbol in (("minimum", ">="), ("exclusive_minimum", ">"),
                        ("maximum", "<="), ("exclusive_maximum", "<")):
        if meta.get(key) is not None:
            parts.append(f"{symbol} {meta[key]}")
    return "; ".join(parts)


def recipe_fields():
    from kvdm.config import recipe as recipe_module
    from kvdm.config.fields import describe

    out = []
    for section, cls in recipe_module.section_classes().items():
        summary = inspect.cleandoc(cls.__doc__ or "").split("\n\n")
        out.append(f"## `{section}`\n")
        out.append(" ".join(summary[0].split()) + "\n")
        if len(summary) > 1 and not summary[1].startswith("Args:"):
            out.append(" ".join(summary[1].split()) + "\n")
        docs = _arg_docs(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        out.append("| key | type | default | allowed | meaning |")
        out.append("|---|---|---|---|---|")
        for key, type_name, default, short in describe(cls):
            name = key.split(".", 1)[1]
            meaning = docs.get(name) or short
            allowed = _allowed(fields[name].metadata)
            out.append(f"| `{key}` | {type_name} | {_code(default)} | {_cell(allowed)} | {_cell(meaning)} |")
        out.append("")
    return "\n".join(out)


def recipe_files():
    out = ["| recipe | what it is |", "|---|---|"]
    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        header = []
        for line in path.read_text().splitlines():
            if not line.startswith("#"):
                break
            header.append(line.lstrip("#").strip())
        text = " ".join(" ".join(header).split())
        out.append(f"| `recipes/{path.name}` | {_cell(text)} |")
    return "\n".join(out) + "\n"


def unet_presets():
    # The presets module is plain data; reading it by path keeps Keras
    # (imported by the kvdm.models package) out of the docs build.
    presets = runpy.run_path(str(ROOT / "kvdm" / "models" / "video_unet_presets.py"))["VIDEO_UNET_PRESETS"]
    keys = ["base_channels", "channel_multipliers", "num_res_blocks", "attention_resolutions",
            "head_dim", "dropout", "num_mlp_layers", "embedding_dim", "condition_dim"]
    out = ["| preset | " + " | ".join(f"`{k}`" for k in keys) + " |",
           "|---|" + "---|" * len(keys)]
    for name, config in presets.items():
        cells = [_code(config[k]) if k in config else "default" for k in keys]
        out.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def not_run_blocks():
    rows = ["| page | block | why it is not run |", "|---|---|---|"]
    for block in doc_blocks.all_blocks():
        if block.not_run:
            first = doc_blocks.logical_lines(block.source)[0] if block.lang == "bash" else block.source.splitlines()[0]
            link = f"[{block.page}](../{block.page})"
            rows.append(f"| {link} | `{_cell(first)}` | {_cell(block.not_run)} |")
    return "\n".join(rows) + "\n"


_GENERATORS = {
    "recipe-fields": recipe_fields,
    "recipe-files": recipe_files,
    "unet-presets": unet_presets,
    "not-run-blocks": not_run_blocks,
}


def generate(name):
    if name not in _GENERATORS:
        raise ValueError(f"Unknown generated table {name!r}; known: {sorted(_GENERATORS)}")
    return _GENERATORS[name]()


def on_page_markdown(markdown, page, config, files):
    return _MARKER.sub(lambda match: generate(match.group("name")), markdown)

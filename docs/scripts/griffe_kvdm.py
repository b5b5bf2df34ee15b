"""A Griffe extension for kvdm's docstring sections (used by mkdocstrings).

kvdm's docstrings follow the Keras convention: `Args:`, `Call arguments:`,
`Returns:`, `Example:`, `References:`. Griffe's Google-style parser knows
`Args:` and `Returns:`; this extension adapts the rest when the site is
built (the source files are not changed):

- `Call arguments:` with `name: meaning` items becomes an "other
  parameters" section titled "Call arguments", rendered as a table;
- `Example:` becomes an "examples" section titled "Example" (doctest lines
  `>>>` render as Python sessions), also when a blank line follows it;
- an `Args:` or `Call arguments:` section that is a sentence rather than
  items ("As `Sampler`.") stays a titled note;
- an item naming several arguments that wraps onto the next line
  (`a, b, c,` / `d: as in ...`) is joined into one item;
- square brackets in prose (`[CLS]`, a printed list) are escaped, so that
  Markdown does not read them as reference links.

`References:` stays an admonition.
"""

import re

import griffe

_NAMES = r"[\w*]+(?:, [\w*]+)*"
_ITEM = re.compile(rf"^\s+{_NAMES}(?: \([^)]*\))?:(?: |$)")
_WRAPPED = re.compile(rf"^(?P<indent>\s+)(?P<first>{_NAMES},)\n\s+(?P<rest>{_NAMES}:)", re.M)
_BRACKETS = re.compile(r"(?<![\\\]])\[(?P<inner>[^\]\[\n]*)\](?![(\[:])")


def _sections(value):
    lines = value.split("\n")
    for index, line in enumerate(lines):
        title = line.strip()
        if title not in ("Args:", "Call arguments:"):
            continue
        following = next((l for l in lines[index + 1:] if l.strip()), "")
        is_items = bool(_ITEM.match(following))
        indent = line[: len(line) - len(line.lstrip())]
        if title == "Call arguments:" and is_items:
            lines[index] = f"{indent}Other Parameters: Call arguments"
        elif title == "Args:" and not is_items:
            lines[index] = f"{indent}Constructor arguments:"
    return "\n".join(lines)


def _examples(value):
    """`Example:` -> an examples section, its content indented under it."""
    lines, out, index = value.split("\n"), [], 0
    while index < len(lines):
        match = re.match(r"^([ ]*)Example:[ ]*$", lines[index])
        if not match:
            out.append(lines[index])
            index += 1
            continue
        indent = match.group(1)
        out.append(f"{indent}Examples: Example")
        index += 1
        while index < len(lines) and not lines[index].strip():
            index += 1  # Griffe wants the content right below the title
        if index < len(lines) and lines[index].startswith(indent + " "):
            continue
        # Content at the title's own indent: indent it, up to the next title.
        while index < len(lines):
            line = lines[index]
            if re.match(rf"^{indent}\S[\w ]*:[ ]*$", line):
                break
            out.append("    " + line if line.strip() else line)
            index += 1
    return "\n".join(out)


def _escape_brackets(value):
    """Escapes `[...]` outside code spans, fences and doctest lines."""
    out, in_fence, in_doctest = [], False, False
    for line in value.split("\n"):
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if stripped.startswith(">>>"):
            in_doctest = True  # the session and its output, up to a blank line
        elif not stripped:
            in_doctest = False
        if in_fence or in_doctest or stripped.startswith("```"):
            out.append(line)
            continue
        parts = line.split("`")
        for i in range(0, len(parts), 2):  # even parts are outside code spans
            parts[i] = _BRACKETS.sub(lambda m: "\\[" + m.group("inner") + "\\]", parts[i])
        out.append("`".join(parts))
    return "\n".join(out)


class KvdmDocstrings(griffe.Extension):
    """Adapts kvdm's docstring sections to Griffe's Google style."""

    def on_instance(self, *, node, obj, agent, **kwargs):
        docstring = obj.docstring
        if docstring is None:
            return
        value = _WRAPPED.sub(lambda m: f"{m.group('indent')}{m.group('first')} {m.group('rest')}", docstring.value)
        value = _examples(value)
        value = _sections(value)
        docstring.value = _escape_brackets(value)

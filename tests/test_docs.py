"""Every ```bash and ```python block of docs/*.md runs as written, in a fresh copy of the repository.

A block right after the line ``<!-- not run: REASON -->`` is not run (hub weights, the
network, minutes of work, a sketch with your own model's parts); the reason is for the
reader. Every other block runs: each line of a bash block must be a command that needs
nothing but this repository (:func:`tests.test_readme.runs_offline`: demo.py and eval.py
on ``toy-shapes`` or a tiny twin, the toy scenes), made smaller as the README's are
(:func:`tests.test_readme.smaller`); a python block runs whole. A page's blocks run in
their order in one Python process (the python blocks share one namespace, the scripts run
with :mod:`runpy`), so a page costs one start-up.
"""

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_readme import fresh_copy, runs_offline, smaller

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md"))
NOT_RUN = re.compile(r"<!-- not run: (?P<reason>[^>]*\S) -->\s*\Z")

RUNNER = """
import json, runpy, sys

namespace = {"__name__": "__main__"}
for number, (kind, payload) in enumerate(json.loads(sys.argv[1]), 1):
    print(f"--- block step {number}: {kind}", flush=True)
    if kind == "python":
        exec(compile(payload, f"{sys.argv[2]}, python step {number}", "exec"), namespace)
        continue
    sys.argv[1:] = payload[2:]
    sys.argv[0] = payload[1]
    try:
        runpy.run_path(payload[1], run_name="__main__")
    except SystemExit as exit:
        if exit.code not in (0, None):
            raise SystemExit(f"{' '.join(payload)} ended with {exit.code}")
"""


def blocks(markdown: str) -> list[tuple[str, str, str | None]]:
    """(language, text, the not-run reason or None) of each ```bash and ```python block, in order."""
    found = []
    for match in re.finditer(r"^```(\w*)\n(.*?)^```", markdown, flags=re.MULTILINE | re.DOTALL):
        if match.group(1) in ("bash", "python"):
            marker = NOT_RUN.search(markdown[: match.start()])
            found.append((match.group(1), match.group(2), marker and marker.group("reason")))
    return found


def bash_lines(text: str) -> list[list[str]]:
    """The commands of a bash block, continuation lines joined, split as the shell splits them."""
    joined = re.sub(r"\\\n", " ", text)
    return [words for line in joined.splitlines() if (words := shlex.split(line, comments=True))]


def steps(markdown: str) -> tuple[list, list[str]]:
    """(the steps to run, the commands that would need a not-run marker) of one page."""
    todo, unmarked = [], []
    for language, text, reason in blocks(markdown):
        if reason is not None:
            continue
        if language == "python":
            todo.append(("python", text))
            continue
        for words in bash_lines(text):
            if runs_offline(words):
                todo.append(("bash", smaller(words)))
            else:
                unmarked.append(shlex.join(words))
    return todo, unmarked


def needs_nltk(page: Path) -> bool:
    return any(kind == "bash" and words[1] == "eval.py" for kind, words in steps(page.read_text())[0])


def test_blocks_are_read_with_their_not_run_markers():
    markdown = """
<!-- not run: needs hub weights -->
```bash
python demo.py
```

```bash
python demo.py --model toy-shapes
python eval.py toy-shapes out/held \\
    --limit 9
pip install tam
```

<!-- not run: a sketch -->

```python
model.generate()
```

```python
x = 1
```

```text
output
```
"""
    assert [(language, reason) for language, _, reason in blocks(markdown)] == [
        ("bash", "needs hub weights"),
        ("bash", None),
        ("python", "a sketch"),
        ("python", None),
    ]
    assert steps(markdown) == (
        [
            ("bash", ["python", "demo.py", "--model", "toy-shapes"]),
            ("bash", ["python", "eval.py", "toy-shapes", "out/held", "--limit", "2"]),
            ("python", "x = 1\n"),
        ],
        ["pip install tam"],
    )


def test_every_docs_command_that_does_not_run_offline_is_marked():
    unmarked = {page.name: steps(page.read_text())[1] for page in PAGES}
    assert {name: commands for name, commands in unmarked.items() if commands} == {}


@pytest.mark.parametrize(
    "page",
    [pytest.param(page, id=page.name, marks=[pytest.mark.needs_nltk_data] * needs_nltk(page)) for page in PAGES],
)
def test_every_block_of_the_page_runs_in_a_fresh_copy(page, tmp_path):
    todo, _ = steps(page.read_text())
    if not todo:
        pytest.skip(f"{page.name} has no block to run")
    clone = tmp_path / "tam"
    fresh_copy(clone)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(clone), "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, json.dumps(todo), f"docs/{page.name}"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"{page.name}\n{done.stdout[-1500:]}\n{done.stderr[-3000:]}"

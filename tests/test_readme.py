"""Every offline command of the README runs, in order, in a fresh copy of the repository.

The README's ```bash blocks are read line by line (``#`` starts a comment) and its ```python
blocks whole. A command runs when it needs nothing but this repository: demo.py and eval.py
on the toy model or a tiny twin, the tools that draw toy scenes, Python that loads
``toy-shapes``. The others (installing, the tests themselves, hub models, training,
benchmarks) are listed by :func:`offline_commands` as skipped. To keep the test short, the
runs are made smaller: at most 2 toy scenes drawn or evaluated and 6 new tokens from a
twin (the toy model stops by itself after its caption).
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tam.models import TWINS
from tam.toy import TOY_MODELS

ROOT = Path(__file__).resolve().parents[1]
OFFLINE_MODELS = {*TWINS, *TOY_MODELS}
SMALLER = {"--count": "2", "--limit": "2"}  # toy scenes drawn, samples evaluated


def fenced_blocks(markdown: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", markdown, flags=re.MULTILINE | re.DOTALL)


def bash_commands(markdown: str) -> list[list[str]]:
    """Each command line of the ```bash blocks, split as the shell splits it (comments dropped)."""
    commands = []
    for block in fenced_blocks(markdown, "bash"):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(words)
    return commands


def option(words: list[str], name: str, default: str | None = None) -> str | None:
    return words[words.index(name) + 1] if name in words else default


def smaller(words: list[str]) -> list[str]:
    """The same command with fewer scenes, samples or twin tokens (module docstring)."""
    words = list(words)
    for name, value in SMALLER.items():
        if name in words:
            words[words.index(name) + 1] = value
        elif words[1] == "eval.py" and name == "--limit":
            words += [name, value]
    model = option(words, "--model") if words[1] == "demo.py" else words[2] if words[1] == "eval.py" else None
    if model in TWINS and "--max-new-tokens" not in words:
        words += ["--max-new-tokens", "6"]
    return words


def runs_offline(words: list[str]) -> bool:
    """Whether a README command needs nothing but the repository (and what earlier commands made)."""
    if words[0] != "python" or len(words) < 2:
        return False
    if words[1] == "demo.py":
        return option(words, "--model", "the default hub model") in OFFLINE_MODELS
    if words[1] == "eval.py":
        return len(words) > 2 and words[2] in OFFLINE_MODELS
    return words[1] == "tools/make_toy_data.py"


def offline_commands(markdown: str) -> tuple[list[list[str]], list[str]]:
    """(the commands to run, in order, made smaller; the skipped command lines)."""
    commands, skipped = [], []
    for words in bash_commands(markdown):
        if runs_offline(words):
            commands.append(smaller(words))
        else:
            skipped.append(shlex.join(words))
    for block in fenced_blocks(markdown, "python"):
        if any(f'"{name}"' in block for name in TOY_MODELS):
            commands.append(["python", "-c", block])
        else:
            skipped.append(block.splitlines()[0] + " ...")
    return commands, skipped


def test_the_readme_commands_are_read_as_a_shell_reads_them():
    markdown = """
```bash
python demo.py --model toy-shapes --figure "circle square"   # a comment
pip install -r requirements.txt
python tools/make_toy_data.py held-out --count 200 --seed 1
python eval.py toy-shapes held-out --baselines
python eval.py Qwen/Qwen2-VL-2B-Instruct data/coco2014
python demo.py --model tiny-llava
```

```python
model, processor = load_model("toy-shapes")
```
"""
    commands, skipped = offline_commands(markdown)
    assert commands == [
        ["python", "demo.py", "--model", "toy-shapes", "--figure", "circle square"],
        ["python", "tools/make_toy_data.py", "held-out", "--count", "2", "--seed", "1"],
        ["python", "eval.py", "toy-shapes", "held-out", "--baselines", "--limit", "2"],
        ["python", "demo.py", "--model", "tiny-llava", "--max-new-tokens", "6"],
        ["python", "-c", 'model, processor = load_model("toy-shapes")\n'],
    ]
    assert skipped == ["pip install -r requirements.txt", "python eval.py Qwen/Qwen2-VL-2B-Instruct data/coco2014"]


def fresh_copy(clone: Path) -> None:
    """Copy the working tree to ``clone`` as a new user's clone has it (no git data, caches or earlier outputs)."""
    shutil.copytree(
        ROOT,
        clone,
        ignore=shutil.ignore_patterns(".git", "__pycache__", ".pytest_cache", ".ruff_cache", "vis_results", "out"),
        symlinks=True,
    )


@pytest.mark.needs_nltk_data  # eval.py's commands
def test_every_offline_readme_command_runs_in_order_in_a_fresh_copy(tmp_path):
    clone = tmp_path / "tam"
    fresh_copy(clone)
    commands, skipped = offline_commands((clone / "README.md").read_text())
    assert len(commands) >= 4, "the README shows the demo, eval.py and Python on the toy model"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    printed = []
    for words in commands:
        done = subprocess.run(
            [sys.executable, *words[1:]], cwd=clone, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, f"{shlex.join(words)}\n{done.stderr[-3000:]}"
        printed += done.stdout.splitlines()
    # the eval table's headings as the README shows them are what eval.py prints (its numbers differ: fewer samples)
    (table,) = [block for block in fenced_blocks((clone / "README.md").read_text(), "text") if "Obj-IoU" in block]
    headings = [line for line in table.splitlines() if line.startswith("method") or line.endswith(":")]
    assert len(headings) == 2 and set(headings) <= set(printed), headings


def test_every_relative_link_of_the_readme_and_the_docs_resolves():
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "tests" / "README.md"]:
        if not page.is_file():
            continue
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            path = target.split("#")[0]
            if path and not re.match(r"[a-z]+:", path) and not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert broken == []

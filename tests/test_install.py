"""The set-up: tam installed as requirements.txt says cannot be shadowed by the clone's own folder."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python_in_a_fresh_environment(folder: Path) -> Path:
    """A virtual environment that sees this machine's packages; tam goes into it alone."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(folder)], check=True)
    return folder / "bin" / "python"


def test_the_editable_install_is_found_from_the_parent_folder_of_a_clone_named_tam(tmp_path):
    clone = tmp_path / "projects" / "tam"  # the clone, named as the package
    clone.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, clone / name)
    shutil.copytree(ROOT / "tam", clone / "tam", ignore=shutil.ignore_patterns("__pycache__"))
    python = python_in_a_fresh_environment(tmp_path / "env")
    # requirements.txt's line, offline: this machine's setuptools builds it, its dependencies are here.
    install = [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "-e", str(clone)]
    done = subprocess.run(
        install, capture_output=True, text=True, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "transitional" not in done.stderr  # setuptools' warning for its compat mode
    start_in_parent = {"cwd": clone.parent, "capture_output": True, "text": True, "check": True}
    # The trap: without the install, the clone's folder (no __init__.py) is an empty namespace package.
    bare = subprocess.run([sys.executable, "-S", "-c", "import tam; print(tam.__file__)"], **start_in_parent)
    assert bare.stdout.split() == ["None"]
    found = subprocess.run(
        [str(python), "-c", "import tam; print(tam.__file__, hasattr(tam, 'explain'))"], **start_in_parent
    )
    assert found.stdout.split() == [str(clone / "tam" / "__init__.py"), "True"]


def test_requirements_install_tam_editable_after_upgrading_pip():
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert lines[-1] == "-e ."
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.index("install --quiet --disable-pip-version-check -U pip") < ci.index("-r requirements.txt")


def test_without_nltk_data_the_tests_that_need_it_skip_and_the_others_pass(tmp_path):
    """A clone on a machine with no NLTK data anywhere and no network: skips that name the fetch command, no failure."""
    from tam.metrics.language import NLTK_DOWNLOAD_COMMAND

    empty = tmp_path / "no_nltk_data"
    empty.mkdir()
    env = {**os.environ, "NLTK_DATA": str(empty), "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    files = ["tests/test_metrics_language.py", "tests/test_metrics_text.py"]  # in-process and script tests
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", *files],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    summary = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 0, done.stdout[-3000:]
    assert "failed" not in summary and "error" not in summary and " skipped" in summary and " passed" in summary
    reasons = {line.split(": ", 1)[1] for line in done.stdout.splitlines() if line.startswith("SKIPPED")}
    assert reasons == {
        "needs NLTK's averaged_perceptron_tagger_eng and wordnet, not installed: "
        f"`{NLTK_DOWNLOAD_COMMAND}` fetches them"
    }
    assert list(empty.iterdir()) == [] and not (tmp_path / "nltk_data").exists()  # nothing was downloaded

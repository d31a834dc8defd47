"""The set-up: tam installed as requirements.txt says cannot be shadowed by the clone's own folder."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def import_tam_from(cwd: Path, site_dir: Path | None) -> str:
    """``tam.__file__`` (or ``None`` for a namespace package) in a Python started in ``cwd``.

    ``-S`` starts without site-packages (an empty namespace package needs none). With
    ``site_dir`` (processed as site-packages is, .pth files included), this machine's
    site-packages follow it for tam's dependencies (and its own installation of tam, after).
    """
    code = "import site\n"
    if site_dir is not None:
        code += f"site.addsitedir({str(site_dir)!r})\nfor folder in site.getsitepackages(): site.addsitedir(folder)\n"
    code += "import tam\nprint(tam.__file__, hasattr(tam, 'explain'))"
    return subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=cwd, capture_output=True, text=True, check=True
    ).stdout


def test_import_from_the_parent_folder_of_a_clone_named_tam(tmp_path):
    parent = tmp_path / "projects"
    parent.mkdir()
    (parent / "tam").symlink_to(ROOT, target_is_directory=True)  # the clone, named as the package
    # The trap: the clone's folder (no __init__.py) is found first, as an empty namespace package.
    assert import_tam_from(parent, None).split() == ["None", "False"]
    # What the compat-mode editable install leaves in site-packages: a .pth naming the clone's folder.
    # A regular package found later on sys.path beats the namespace portion found first.
    site_packages = tmp_path / "site-packages"
    site_packages.mkdir()
    (site_packages / "__editable__.tam-0.1.0.pth").write_text(f"{ROOT}\n")
    assert import_tam_from(parent, site_packages).split() == [str(ROOT / "tam" / "__init__.py"), "True"]


def test_requirements_install_tam_in_compat_mode_with_a_pip_that_reads_the_option():
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert "-e . --config-settings editable_mode=compat" in lines
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

"""benchmarks/bench_core.py: tam alone without a reference clone, and a bad reference folder in one line.

Its timings are not asserted (the machine's load decides them); the tiny size keeps the
run to seconds.
"""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "bench_core.py"


def bench(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *arguments], capture_output=True, text=True, timeout=300, cwd=ROOT
    )


def test_without_a_reference_it_times_tam_alone():
    run = bench("--size", "tiny", "--repeats", "1")
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].endswith("speed-up and memory against tam")
    assert [line.split()[0] for line in lines[2:]] == ["tam", "tam+candidates"]
    assert lines[2].split()[2] == "1.0x"


def test_a_reference_folder_without_tam_py_is_named_in_one_line(tmp_path):
    run = bench("--size", "tiny", "--reference-dir", str(tmp_path))
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr == (
        f"bench_core.py: error: --reference-dir {str(tmp_path)!r} holds no tam.py: pass a clone of "
        "github.com/xmed-lab/TAM, or leave --reference-dir out to time tam alone\n"
    )

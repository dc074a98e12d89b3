"""ruff's checks, complexity and annotations included, are part of the test run,
so CI fails on a lint error as it does on a failing test."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ruff() -> list[str]:
    found = shutil.which("ruff", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "ruff"]


def test_ruff_check_passes_on_the_whole_tree():
    result = subprocess.run([*ruff(), "check", "--no-cache", "."], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_complexity_and_annotations_are_checked_in_the_package(tmp_path):
    """The rules are on: a function over the complexity limit, or without
    annotations, is reported under the project's settings."""
    sample = tmp_path / "probe.py"
    branches = "\n".join(f"    if x == {i}:\n        return {i}" for i in range(12))
    sample.write_text(f"def probe(x: int) -> int:\n{branches}\n    return -1\n\n\ndef bare(x):\n"
                      "    return x\n")  # fmt: skip
    result = subprocess.run(
        [*ruff(), "check", "--no-cache", "--config", str(ROOT / "pyproject.toml"), str(sample)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "C901" in result.stdout and "ANN001" in result.stdout, result.stdout

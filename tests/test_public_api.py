"""The public surface: __all__, a light import, and the README's five lines."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import reelrec

ROOT = Path(__file__).resolve().parents[1]


def test_all_is_sorted_and_resolves() -> None:
    assert reelrec.__all__ == sorted(reelrec.__all__)
    for name in reelrec.__all__:
        assert getattr(reelrec, name) is not None


def test_import_is_light() -> None:
    code = (
        "import sys, reelrec, reelrec.index, reelrec.cli\n"
        "heavy = [m for m in ('faiss', 'fastapi', 'redis', 'torch') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_readme_quickstart_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## Five lines of Python\n\n```python\n(.*?)```", readme, re.S)
    assert block is not None
    code = block.group(1)
    assert (
        len([line for line in code.splitlines() if line.strip() and not line.startswith("import")])
        == 5
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("['v")
    assert 0.0 <= float(lines[1]) <= 1.0

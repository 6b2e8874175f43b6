"""The README's quick start must run as written."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_setup_is_two_commands():
    text = README.read_text()
    setup = text.split("## Set-up", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line for line in setup.splitlines() if line.strip()]
    assert commands == ['pip install -e ".[test]"', "pytest"]


def test_readme_quick_start_runs(capsys):
    blocks = _python_blocks(README.read_text())
    assert blocks, "README has no python quick start"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    out = capsys.readouterr().out
    errors = dict(re.findall(r"^(SMART|ridge)\s+error (\S+)", out, flags=re.MULTILINE))
    assert float(errors["SMART"]) < float(errors["ridge"]) / 4
    assert "data-driven SMART" in out

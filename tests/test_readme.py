"""The README's quick start must run as written."""

import re
from pathlib import Path

import pytest

import smart_sc  # noqa: F401  (the warning filter names smart_sc.SmallTargetWarning)

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_setup_is_two_commands():
    text = README.read_text()
    setup = text.split("## Set-up", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line for line in setup.splitlines() if line.strip()]
    assert commands == ['pip install -e ".[test]"', "pytest"]


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.filterwarnings("ignore::smart_sc.SmallTargetWarning")
def test_readme_quick_start_runs(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the quick start writes a model file
    blocks = _python_blocks(README.read_text())
    assert len(blocks) == 2, "README quick start: numpy and real-data examples"
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    out = capsys.readouterr().out
    errors = dict(re.findall(r"^(SMART|ridge)\s+error (\S+)", out, flags=re.MULTILINE))
    assert float(errors["SMART"]) < float(errors["ridge"]) / 4
    assert "data-driven SMART" in out
    assert (tmp_path / "mono_source.h5ad").exists()
    assert "'rank'" in out
    assert "(5000, 134)" in out and "cross-validated MSE" in out

"""The README's commands stay true: CI runs the README's test command verbatim."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bash_blocks(text: str) -> list[str]:
    blocks, inside, current = [], False, []
    for line in text.splitlines():
        if line.strip() == "```bash":
            inside, current = True, []
        elif line.strip() == "```" and inside:
            inside = False
            blocks.append("\n".join(current).strip())
        elif inside:
            current.append(line)
    return blocks


def _two_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return _bash_blocks(section)


def test_ci_runs_the_readme_test_command():
    blocks = _two_commands()
    assert len(blocks) == 2, "the 'Two commands' section has the main job and the tests"
    test_command = blocks[1]
    assert "pytest" in test_command
    ci_lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines, ".ci/run must call the README's test command verbatim"


def test_main_command_trains_on_generated_data():
    main = _two_commands()[0]
    assert "scripts/train.py --config configs/shapes_lstm.py" in main
    assert "SEQJAX_MANUAL_DIR" not in main, "the main job needs no downloaded data"


def test_quickstart_python_runs():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1]
    code = section.split("```python", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "README.md quickstart", "exec"), namespace)  # noqa: S102  (our own README)
    assert namespace["ys"].shape == (50, 16, 32)
    assert namespace["weights"].shape == (16, 50)
    assert float(namespace["weights"][:, 42:].max()) == 0.0  # padded positions get no attention

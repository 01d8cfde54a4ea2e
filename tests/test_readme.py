import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _bash_blocks():
    return re.findall(r"^```bash\n(.*?)\n```", README, re.M | re.S)


def test_readme_opens_with_two_commands():
    lines = [line for line in README.splitlines() if line.strip()]
    assert lines[0].startswith("# ") and lines[1] == "```bash"
    main_job, tests = _bash_blocks()[:2]
    for cmd in (main_job, tests):
        assert "\n" not in cmd
        # the CPU wheel first, so a fresh machine does not pull a CUDA build
        assert cmd.startswith("pip install torch==2.13.0 && ")
    assert "pytest" in tests and "pytest" not in main_job


def test_ci_runs_the_readme_test_command():
    # .ci/run extracts its command with this awk program; check it finds block 2.
    script = (ROOT / ".ci" / "run").read_text()
    awk = re.search(r"awk '(.*?)' README.md", script).group(1)
    found = subprocess.run(
        ["awk", awk, "README.md"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert found == _bash_blocks()[1]
    assert 'bash -c "$cmd"' in script and "set -euo pipefail" in script

"""Every shell command the docs give works as written (README, docs/, the guide, notebook markdown).

A command is a line of a ```bash block (one block is one terminal: a sandbox started in it keeps
serving the lines after it) or inline code that starts with a program and has arguments. Each runs
with bash in a scratch folder that links to the repository's files, in a fresh terminal's
environment: the venv is not activated and no `REPLICATE_*` variable is set. How each is checked:

- `python -m replicate_nb.sandbox ...` runs until it prints "Sandbox listening on", then gets
  SIGINT and must exit 0; `--port 8000` becomes a free port (in the whole block), and a `--replay
  FILE` finds a real recording there, made by `replicate_nb.record()` against a sandbox; one
  without `--port` gets `--port` of a free one.
- `make lab` runs until JupyterLab prints its URL (tests/test_make_lab.py checks what it serves).
- `make test` is checked with `make -n test`: this test runs inside `make test`.
- `FUZZ_EXPLORE=1 ... test_fuzz.py` is collected, not run: the same suite already runs those tests
  (on fixed examples), and exploring doubles minutes of fuzzing.
- `make bench` is checked with `make -n bench`: a benchmark keeps both cores busy for minutes and
  asserts nothing.
- `pip install ...` runs as `.venv/bin/python -m pip install --dry-run ...`: it must resolve on
  the index, without changing the environment the tests run in.
- `NOTEBOOK` stands for a copy of notebook 01; every other command simply runs and must exit 0.
- `conda env create -f environment.yml` is not run (conda is not on the test machines;
  tests/test_packaging.py keeps environment.yml in step with pyproject.toml), nor are the
  fragments in NOT_RUN.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import replicate

from replicate_nb import sandbox
from replicate_nb.recording import record
from tests.conftest import close_client
from tests.test_make_lab import LabProcess, start_make_lab

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
DOCS = [ROOT / "README.md", ROOT / "notebooks" / "README.md", *sorted(ROOT.glob("docs/*.md"))]
NOTEBOOKS = sorted(ROOT.glob("notebooks/**/*.ipynb"))
FENCE = re.compile(r"^( *)```(?:bash|sh|shell)\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"`([^`\n]+)`")
PROGRAM = re.compile(
    r"^(?:[A-Z_]+=\S+ )*(?:\.venv/bin/\S+|python3?|make|jupyter|pip|pytest|conda|npm|node|"
    r"apt-get|sudo|source|bash|scripts/\S+) \S"
)
NOT_RUN = {
    "conda env create -f environment.yml": "conda is not on the test machines",
    "pip install --pre --upgrade": "a fragment the Choices table quotes, not a command to run",
}
SANDBOX = re.compile(r"(?:^|\s)(?:\S*/)?python3? -m replicate_nb\.sandbox(?:\s|$)")
READY = "Sandbox listening on "


@dataclasses.dataclass(frozen=True)
class Block:
    """Commands typed in one terminal, in order, and where the docs give them."""

    commands: tuple[str, ...]
    source: str


def _markdown(path: Path) -> str:
    if path.suffix != ".ipynb":
        return path.read_text(encoding="utf-8")
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


def _lines(block: str, indent: int) -> tuple[str, ...]:
    """The commands of a fenced block: comments and blank lines dropped, `\\` lines joined."""
    text = re.sub(r"\\\n\s*", " ", block)
    commands = []
    for line in text.splitlines():
        line = line[indent:] if line[:indent].isspace() else line
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line and not line.startswith("#"):
            commands.append(line)
    return tuple(commands)


def extract(text: str, source: str) -> list[Block]:
    """Every command block of one markdown text (fenced shell blocks, then inline commands)."""
    blocks = [Block(_lines(m.group(2), len(m.group(1))), source) for m in FENCE.finditer(text)]
    prose = FENCE.sub("", text)
    blocks += [Block((m.group(1),), source) for m in INLINE.finditer(prose) if PROGRAM.match(m[1])]
    return blocks


def all_blocks() -> list[Block]:
    """The command blocks of every doc, each once (where it first appears); a lone command is
    left out when a longer block runs it too."""
    found: dict[tuple[str, ...], Block] = {}
    for path in [*DOCS, *NOTEBOOKS]:
        for block in extract(_markdown(path), str(path.relative_to(ROOT))):
            found.setdefault(block.commands, block)
    in_sessions = {c for b in found.values() if len(b.commands) > 1 for c in b.commands}
    return [b for b in found.values() if len(b.commands) > 1 or b.commands[0] not in in_sessions]


BLOCKS = all_blocks()
RUN = [b for b in BLOCKS if not set(b.commands) <= set(NOT_RUN)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real recording: hello-world run through `record()` against a sandbox."""
    path = tmp_path_factory.mktemp("recording") / "workshop.replay.json"
    with sandbox.start(keepalive=0.2) as real:
        client = replicate.Client(base_url=real.base_url)
        try:
            version = client.models.get("replicate/hello-world").latest_version.id
            with record(path, client=client):
                client.run(f"replicate/hello-world:{version}", input={"text": "Alice"})
        finally:
            close_client(client)
    return path


@pytest.fixture
def terminal(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A scratch folder linking to the repository's files, and a fresh terminal's environment."""
    for entry in ROOT.iterdir():
        if entry.name not in {".git", "build", "test-artifacts"}:
            (tmp_path / entry.name).symlink_to(entry)
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if Path(p) != VENV_BIN]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("REPLICATE_", "JUPYTER_", "VIRTUAL_ENV", "PYTEST_"))
    }
    env |= {
        "PATH": os.pathsep.join(path),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "BROWSER": "true",  # `make lab` would open a browser
    }
    return tmp_path, env


def test_the_docs_give_commands():
    commands = {c for block in BLOCKS for c in block.commands}
    assert "make lab" in commands and "make test" in commands
    replay = [c for c in commands if SANDBOX.search(c) and "--replay-fallback stand-in" in c]
    assert replay, "the instructor guide's workshop-day command was not found"
    assert len(commands) >= 12, sorted(commands)


def test_no_command_relies_on_an_activated_venv():
    plain = [
        (b.source, c)
        for b in BLOCKS
        for c in b.commands
        if re.match(r"^(?:[A-Z_]+=\S+ )*(?:python3?|jupyter|pytest) ", c)
    ]
    assert not plain, f"write .venv/bin/... (a fresh terminal has no venv on PATH): {plain}"


class _Session:
    """One terminal: runs commands in order, keeps sandboxes serving until it closes."""

    def __init__(self, cwd: Path, env: dict[str, str], recording: Path) -> None:
        self.cwd, self.env, self.recording = cwd, env, recording
        self.servers: list[subprocess.Popen[str]] = []

    def run(self, command: str) -> None:
        if SANDBOX.search(command):
            self._serve(command)
        elif command == "make lab":
            lab: LabProcess = start_make_lab(self.cwd, self.env)
            lab.stop()
        else:
            self._check(self._as_checked(command), command)

    def _as_checked(self, command: str) -> str:
        if command in ("make test", "make bench"):
            return command.replace("make ", "make -n ", 1)
        if command.startswith("pip install "):
            dry = "" if "--dry-run" in command else " --dry-run"
            return f"{VENV_BIN / 'python'} -m pip install{dry}{command.removeprefix('pip install')}"
        if command.startswith("FUZZ_EXPLORE="):
            return f"{command} --collect-only -q"
        if "NOTEBOOK" in command:
            copy = self.cwd / "scratch.ipynb"
            shutil.copy(ROOT / "notebooks" / "01_welcome_and_setup.ipynb", copy)
            return command.replace("NOTEBOOK", str(copy))
        return command

    def _check(self, line: str, command: str) -> None:
        done = subprocess.run(
            ["bash", "-c", line],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=540,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, (
            f"`{command}` failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
        )

    def _serve(self, command: str) -> None:
        command = command.replace("--host 0.0.0.0", "--host 127.0.0.1")  # tests stay on loopback
        if "--port" not in command:  # 8000, the default, may be taken on a shared machine
            command += f" --port {_free_port()}"
        for name in re.findall(r"--replay (\S+)", command):
            shutil.copy(self.recording, self.cwd / name)
        proc = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.servers.append(proc)
        line = proc.stdout.readline()
        if not line.startswith(READY):
            proc.wait(30)
            pytest.fail(f"`{command}` did not start: {line}{proc.stderr.read()[-3000:]}")

    def close(self) -> None:
        for proc in self.servers:
            proc.send_signal(signal.SIGINT)
        for proc in self.servers:
            try:
                code = proc.wait(30)
            finally:
                proc.kill()
                proc.stdout.close()
                proc.stderr.close()
            assert code == 0, f"the sandbox exited {code} on SIGINT"


@pytest.fixture
def session(terminal, recording) -> Iterator[_Session]:
    cwd, env = terminal
    opened = _Session(cwd, env, recording)
    try:
        yield opened
    finally:
        opened.close()


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{b.source}:{b.commands[0][:60]}" for b in BLOCKS])
def test_command_works(block: Block, session: _Session):
    port = str(_free_port())
    for command in block.commands:
        if command in NOT_RUN:
            continue
        session.run(re.sub(r"\b8000\b", port, command))

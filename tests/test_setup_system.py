"""scripts/setup_system.sh: installs missing Debian packages with apt, or stops with one line.

The script runs on a PATH of stand-ins (`id`, `apt-get`, `sudo`, `node`), so no test touches the
system's packages; the real run is the fresh-clone check of `make test` with Chromium removed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "setup_system.sh"
REAL_TOOLS = ("bash", "env", "tr", "paste", "sed", "cat", "touch", "chmod", "make", "sh", "dirname")


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


@pytest.fixture
def machine(tmp_path: Path):
    """A PATH of real basics plus stand-ins; returns a function that runs a command on it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in REAL_TOOLS:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    (bin_dir / "python3").symlink_to(sys.executable)
    chromium = tmp_path / "chromium"
    log = tmp_path / "apt.log"
    # apt-get logs its arguments and "installs" chromium by creating it (nothing else)
    _stub(
        bin_dir,
        "apt-get",
        f'echo "$@" >> {log}\n'
        f'case "$*" in *install*chromium*) touch {chromium}; chmod +x {chromium} ;; esac',
    )

    def run(*command: str, uid: int = 0, sudo: bool = False, node: bool = True, chromium_=False):
        _stub(bin_dir, "id", f"echo {uid}")
        for name, present in (("sudo", sudo), ("node", node), ("npm", node)):
            if present:
                _stub(bin_dir, name, 'exec "$@"' if name == "sudo" else "exit 0")
            elif (bin_dir / name).exists():
                (bin_dir / name).unlink()
        if chromium_:
            chromium.touch()
            chromium.chmod(0o755)
        env = {
            "PATH": str(bin_dir),
            "CHROMIUM_PATH": str(chromium),
            "HOME": str(tmp_path),
        }
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        apt = log.read_text().splitlines() if log.exists() else []
        return done, apt

    return run


def test_nothing_missing_installs_nothing(machine):
    done, apt = machine(str(SCRIPT), "test", chromium_=True)
    assert done.returncode == 0, done.stderr
    assert apt == [] and done.stderr == ""


def test_as_root_it_installs_chromium_with_apt(machine):
    done, apt = machine(str(SCRIPT), "test")
    assert done.returncode == 0, done.stderr
    assert apt[0] == "update -qq"
    assert apt[1] == "install -y -qq chromium"


def test_with_sudo_it_installs_node_and_npm_through_sudo(machine):
    done, apt = machine(str(SCRIPT), "test", uid=1000, sudo=True, node=False, chromium_=True)
    # the node stand-in is gone, and apt cannot bring it back here: one line names it
    assert apt[-1] == "install -y -qq nodejs npm"
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "make test needs nodejs npm: run `sudo apt-get install -y nodejs npm`, "
        "then run make test again"
    )


def test_without_root_or_sudo_it_stops_with_one_line(machine):
    done, apt = machine(str(SCRIPT), "test", uid=1000)
    assert apt == []
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "make test needs chromium: run `sudo apt-get install -y chromium`, then run make test "
        "again (or set CHROMIUM_PATH to a Chromium)"
    ]


def test_the_lab_needs_no_browser(machine):
    done, apt = machine(str(SCRIPT), "lab", uid=1000, node=False)
    assert done.returncode == 0 and apt == [], done.stderr


def test_make_test_stops_before_running_anything(machine):
    # PY=false: should the check wrongly pass, no test suite starts inside this one
    done, apt = machine("make", "test", "PY=false", uid=1000)
    assert apt == []
    assert done.returncode != 0
    assert "make test needs chromium" in done.stderr
    assert "ruff" not in done.stdout and "pip" not in done.stdout, done.stdout

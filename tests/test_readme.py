"""The README is the user's manual: every shell block of it runs, top to bottom, as written.

Each fenced ``bash`` (or ``sh``, ``shell``, unlabelled) block of README.md is one test, run in order in one
throwaway copy of the repository (its tracked files, with ``.venv`` linked to the installed one), as a
new user would paste it into a shell, with these differences only, all made here and visibly:

- sizes are small: the values of ``SIZE_OPTIONS`` are replaced (``--claims 200000`` runs as
  ``--claims 1000``; the Dask example gets one worker), and ``RECOUP_DEMO_CLAIMS`` makes ``make run``'s demo
  history small;
- commands that serve forever (``make run``, ``recoup serve``, ``mlflow ui``, ``mlflow models serve``) start
  in the background on a free port (a trailing ``&`` is dropped: the harness backgrounds them itself), the
  block waits until they answer, and they are stopped when the module ends; URLs naming port 8000 (5000 for
  MLflow, 5001 for its scoring server) are pointed at the port of the server started last;
- ``curl`` fails on an HTTP error (``--fail-with-body``), and every block runs under ``set -e -o pipefail``;
- a command's non-zero exit fails its block, except the ones ``TOLERATED_EXITS`` lists, each with the one
  exit code the README documents for it and the words its output must then contain;
- a block fails when it, or a server it started, prints a Python traceback (so that a tolerated exit code
  cannot hide a crash);
- what a block ``export``s or ``source``s carries over to the blocks after it, as in one shell session;
  ``recoup`` is NOT on PATH until the README says how to put it there;
- trees are not compiled (``RECOUP_COMPILE_TREES=false``: same numbers, see tests/models/test_compiled.py)
  so that each new model version does not cost a compile;
- ``PYTHONPATH`` is the copy, so its commands import the copy's code, as a clone's editable install does.

A block that cannot run here is marked in README.md by a comment on the line before it::

    <!-- readme-test: skip needs a Docker daemon -->

and shows as a skipped test with that reason; ``COMMANDS_NOT_RUN`` lists single commands that are not run
(with the reason each is left out). New blocks are picked up automatically.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SHELLS = {"", "bash", "sh", "shell", "console"}
SKIP_MARKER = re.compile(r"<!--\s*readme-test:\s*skip\s+(?P<reason>.+?)\s*-->")
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)[ \t]*(?P<info>[\w+-]*)[^\n]*$", re.MULTILINE)

#: Option values replaced by small ones. 1,000 claims rather than 2,000 saved about a tenth of the CPU
#: (3m50s vs 4m14s user): most of a training run's cost does not grow with the history (imports, the
#: truth's 5,000 fresh claims, logging the bundle), so smaller sizes would save little more. The Dask
#: example's LocalCluster gets one worker process (300 claims: 33 s rather than 45 s with two, under load).
SIZE_OPTIONS = {"--claims": "1000", "--worklist": "300", "--workers": "1"}
#: Commands the README shows that are not run here, and why (a pattern matching the start of the line).
COMMANDS_NOT_RUN = {
    r"make test\b": "the test suite itself (it runs this test)",
    r"jupyter lab\b": "an interactive server; tests/test_notebooks.py runs the notebook top to bottom",
    r"recoup train-idr\b": "minutes on the whole CMS file; tests/training/test_idr.py trains it on a sample",
    r"mlflow ui\b": "four gunicorn-style workers that took over 5 minutes to start on the shared CI machine",
}
#: Commands that may exit non-zero as the README says: (exit code, words the output must then contain, why).
TOLERATED_EXITS = {
    r"(\S*/)?recoup monitor\b": (3, "ALERT ", "exits 3 when it raises an alert, as the README says"),
    # the promotion gate (recoup promote's, which retrain applies too) may keep the champion: a challenger
    # trained on a small or different history (the X12 recipe's) can be worse than the one already served
    r"(\S*/)?recoup (retrain|promote)\b": (1, "refused: the champion stays", "the promotion gate kept the champion"),
}
TRACEBACK = "Traceback (most recent call last)"
BLOCK_TIMEOUT_SECONDS = 900
READY_TIMEOUT_SECONDS = 600
#: Commands that serve until stopped: how to give them a port, and the port the README's URLs name.
SERVERS = {
    r"make run\b": ("env", 8000, "/readyz"),
    r"(\S*/)?recoup serve\b": ("option", 8000, "/readyz"),
    r"(\S*/)?mlflow (ui|server)\b": ("option", 5000, "/"),
    r"(\S*/)?mlflow models serve\b": ("option", 5001, "/ping"),  # MLflow's scoring server
}


@dataclass(frozen=True)
class Block:
    number: int
    line: int  # 1-based line of the opening fence in README.md
    text: str
    skip_reason: str | None

    @property
    def label(self) -> str:
        first = next((line for line in self.text.splitlines() if line.strip()), "")
        return f"block{self.number:02d}-line{self.line}: {first.strip()[:50]}"


def readme_blocks(text: str) -> list[Block]:
    """The shell blocks of ``text`` in order, with the skip reason of those marked to be skipped."""
    blocks, position, number = [], 0, 0
    lines_before = text.splitlines()
    while match := FENCE.search(text, position):
        closing = re.compile(rf"^[ \t]*{re.escape(match['fence'])}[ \t]*$", re.MULTILINE)
        end = closing.search(text, match.end())
        if end is None:
            raise AssertionError(f"README.md: the code block at line {_line(text, match.start())} is never closed")
        body = text[match.end() + 1 : end.start()]
        position = end.end()
        if match["info"].lower() not in SHELLS:
            continue
        number += 1
        line = _line(text, match.start())
        previous = next((item for item in reversed(lines_before[: line - 1]) if item.strip()), "")
        marker = SKIP_MARKER.search(previous)
        blocks.append(Block(number, line, textwrap.dedent(body), marker["reason"] if marker else None))
    return blocks


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def logical_lines(script: str) -> list[str]:
    """Lines with their backslash continuations joined (quoted multi-line arguments stay multi-line)."""
    joined, current = [], ""
    for line in script.splitlines():
        current += line + "\n"
        if not line.endswith("\\"):
            joined.append(current)
            current = ""
    if current:
        joined.append(current)
    return joined


def with_small_sizes(script: str) -> str:
    for option, value in SIZE_OPTIONS.items():
        script = re.sub(rf"{re.escape(option)}([ =])[\d_,]+", rf"{option}\g<1>{value}", script)
    return script


@dataclass
class Session:
    """One user's shell session: the copy of the repository, the environment, the servers started."""

    root: Path
    env: dict[str, str]
    logs: Path
    prelude: list[str] = field(default_factory=list)  # exports and sources of the blocks run so far
    servers: list[int] = field(default_factory=list)  # process group ids
    ports: dict[int, int] = field(default_factory=dict)  # README port -> port of the server started last
    log_read: dict[str, int] = field(default_factory=dict)  # server log name -> characters already checked
    failed: Block | None = None

    def command_for(self, line: str) -> str:
        """``line`` as run here: servers in the background on free ports, URLs to their ports."""
        stripped = line.strip()
        for pattern, reason in COMMANDS_NOT_RUN.items():
            if re.match(pattern, stripped):
                return f"echo {_quote('not run here: ' + stripped.split('#')[0].strip() + ' (' + reason + ')')}\n"
        for pattern, (how, readme_port, probe) in SERVERS.items():
            if found := re.match(pattern, stripped):
                return self._background(stripped, found[0], how, readme_port, probe)
        line = self._tolerating(line)
        for readme_port, port in self.ports.items():
            line = re.sub(rf"(127\.0\.0\.1|localhost):{readme_port}\b", rf"\g<1>:{port}", line)
        return line

    @staticmethod
    def _tolerating(line: str) -> str:
        """``line`` with each command of TOLERATED_EXITS (alone, or in an ``&&`` chain) run by ``_tolerate``."""
        command = line.split("#")[0].strip()
        # a chain is split only when nothing is quoted, so no && inside an argument is taken for one
        commands = [command] if re.search(r"['\"]", command) else re.split(r"\s*&&\s*", command)
        wrapped = []
        for part in commands:
            for pattern, (code, words, _why) in TOLERATED_EXITS.items():
                if re.match(pattern, part):
                    part = f"_tolerate {code} {_quote(words)} {part}"
            wrapped.append(part)
        return " && ".join(wrapped) + "\n" if wrapped != commands else line

    def _background(self, line: str, command: str, how: str, readme_port: int, probe: str) -> str:
        port = free_port()
        words = re.sub(r"\s*&$", "", line.split("#")[0].strip())  # backgrounded here, whether or not it says so
        environment = f"PORT={port} " if how == "env" else ""  # the Makefile's PORT
        if how == "env":
            pass
        elif given := re.search(r"--port[ =](\d+)", words):
            readme_port = int(given[1])
            words = words.replace(given[0], f"--port {port}")
        else:
            words = f"{words} --port {port}"
        self.ports[readme_port] = port
        log = self.logs / f"server-{port}.log"
        return (
            f"{environment}setsid {words} > {log} 2>&1 &\n"
            f"echo $! >> {self.logs / 'servers.pid'}\n"
            f"_wait_ready $! http://127.0.0.1:{port}{probe} {log} {_quote(command)}\n"
        )

    def script(self, block: Block) -> str:
        body = "".join(self.command_for(line) for line in logical_lines(with_small_sizes(block.text)))
        return "\n".join([PRELUDE, *self.prelude, body])

    def remember(self, block: Block) -> None:
        """Keep what the block changes in the shell (exports, activation) for the blocks after it."""
        for line in logical_lines(block.text):
            if re.match(r"\s*(export\s|source\s|\.\s)", line):
                self.prelude.append(line)

    def new_server_output(self, since: int | None = None) -> dict[str, str]:
        """What each server's log gained since the last call (``since=0``: all of it), by log name."""
        output = {}
        for log in sorted(self.logs.glob("server-*.log")):
            text = log.read_text(encoding="utf-8", errors="replace")
            start = self.log_read.get(log.name, 0) if since is None else since
            output[log.name] = text[start:]
            if since is None:
                self.log_read[log.name] = len(text)
        return output

    def stop_servers(self) -> None:
        pid_file = self.logs / "servers.pid"
        pids = [int(item) for item in pid_file.read_text().split()] if pid_file.exists() else []
        for pid in pids:  # each was started with setsid: its process group is its own pid
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        deadline = time.monotonic() + 20
        for pid in pids:
            while time.monotonic() < deadline:
                try:
                    os.killpg(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.2)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)


#: Run before each block: strict mode, curl that fails on HTTP errors, and the readiness wait.
PRELUDE = textwrap.dedent(
    f"""\
    set -e -o pipefail
    curl() {{ command curl --fail-with-body --show-error "$@"; }}
    _wait_ready() {{  # pid url log name
        local deadline=$((SECONDS + {READY_TIMEOUT_SECONDS}))
        until command curl -sf -o /dev/null "$2"; do
            if ! kill -0 "$1" 2>/dev/null; then echo "$4 exited before it was ready:"; cat "$3"; return 1; fi
            if ((SECONDS > deadline)); then echo "$4 not ready after {READY_TIMEOUT_SECONDS}s:"; cat "$3"; return 1; fi
            sleep 0.5
        done
        echo "$4 ready on $2"
    }}
    _tolerate() {{  # code words command...: exit `code` passes only when the output holds `words`
        local code=$1 words=$2 output status=0
        shift 2
        output=$(mktemp)
        "$@" > "$output" 2>&1 || status=$?
        cat "$output"
        if ((status == code)) && grep -qF -- "$words" "$output"; then
            echo "(exit $code tolerated: the output says '$words')"
            status=0
        fi
        rm -f "$output"
        return "$status"
    }}
    """
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def repository_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode == 0:
        return [name for name in listed.stdout.splitlines() if (REPO / name).is_file()]
    ignored = {".venv", ".git", "mlruns", "data", "__pycache__", ".pytest_cache", ".ruff_cache"}
    return [
        str(path.relative_to(REPO))
        for path in REPO.rglob("*")
        if path.is_file() and not ignored.intersection(path.relative_to(REPO).parts) and path.name != "mlflow.db"
    ]


def _user_environment(root: Path) -> dict[str, str]:
    """The environment of a user who has not activated the venv: no RECOUP_ or MLflow settings."""
    venv_bin = str(Path(sys.prefix) / "bin")
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("RECOUP_", "MLFLOW_", "VIRTUAL_ENV", "PYTEST_", "CLAIMS", "WORKLIST"))
    }
    env["PATH"] = os.pathsep.join(part for part in env.get("PATH", "").split(os.pathsep) if part != venv_bin)
    env |= {"RECOUP_COMPILE_TREES": "false", "RECOUP_DEMO_CLAIMS": SIZE_OPTIONS["--claims"], "PYTHONHASHSEED": "0"}
    env["PYTHONPATH"] = str(root)  # the linked venv's editable install points at another checkout
    env["HOME"] = str(root.parent / "home")  # no ~/.cache or ~/.config of the machine's user
    return env


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))
#: The blocks train models and start servers: minutes on an idle machine, far more on a busy shared one.
pytestmark = pytest.mark.skipif(
    os.environ.get("RECOUP_README_TEST") != "1", reason="set RECOUP_README_TEST=1 to run the README's blocks"
)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("readme")
    root = base / "recoup"
    for name in repository_files():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    git = ["git", "-c", "user.name=readme-test", "-c", "user.email=readme-test@localhost"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "the repository as tested"]):
        subprocess.run([*git, *command], cwd=root, check=True, capture_output=True)  # a clone, as a user has
    (root / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    stale = subprocess.run(["make", "-q", "install"], cwd=root, capture_output=True, check=False)
    if stale.returncode != 0:  # make run would rebuild the linked venv: pip into the one the tests run in
        pytest.fail(
            f"{sys.prefix} is older than this checkout's pyproject.toml or constraints.txt (make -q install "
            f"exited {stale.returncode}): install it again before running the README's blocks against it"
        )
    shared = next((parent / "shared" for parent in REPO.parents if (parent / "shared" / "reference").is_dir()), None)
    if shared is not None and not (base / "shared").exists():  # the README's ../shared/reference
        (base / "shared").symlink_to(shared, target_is_directory=True)
    (base / "home").mkdir()
    logs = base / "logs"
    logs.mkdir()
    state = Session(root, _user_environment(root), logs)
    try:
        yield state
    finally:
        state.stop_servers()


def test_the_readme_has_shell_blocks_and_every_exclusion_is_used():
    assert len(BLOCKS) >= 5
    text = README.read_text(encoding="utf-8")
    for pattern in [*COMMANDS_NOT_RUN, *TOLERATED_EXITS]:
        assert re.search(rf"^[ \t]*{pattern}", text, re.MULTILINE), f"{pattern} is listed here but not in README"


@pytest.mark.parametrize(
    ("command", "status"),
    [
        ("recoup monitor", 0),  # stands for a command that passes
        ("recoup monitor --alert", 0),  # exit 3 with ALERT in its output: what the README documents
        ("recoup monitor --quiet-alert", 3),  # exit 3 without the words: a failure
        ("recoup monitor --crash", 1),  # another exit code: a failure
        ("recoup validate x && recoup train x && recoup promote --refused", 0),  # the gate's refusal in a chain
        ("recoup promote --crash", 1),
    ],
)
def test_only_the_documented_exit_with_its_words_is_tolerated(tmp_path, command, status):
    # a stand-in recoup on PATH: exits as its options say, so the wrapping itself is what is tested
    fake = tmp_path / "recoup"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        "  *--alert*) echo 'ALERT payer AETNA'; exit 3;;\n"
        "  *--quiet-alert*) exit 3;;\n"
        "  *--refused*) echo 'refused: the champion stays'; exit 1;;\n"
        "  *--crash*) exit 1;;\n"
        "esac\n"
    )
    fake.chmod(0o755)
    script = PRELUDE + Session(tmp_path, {}, tmp_path).command_for(command)
    environment = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", script], env=environment, capture_output=True, text=True, check=False)
    assert done.returncode == status, done.stdout + done.stderr


def test_a_server_line_is_backgrounded_once_and_its_port_followed(tmp_path):
    session = Session(tmp_path, {}, tmp_path)
    started = session.command_for("recoup serve &   # every /v1/score is recorded\n")
    port = session.ports[8000]
    assert f"setsid recoup serve --port {port} > " in started and "&&" not in started
    assert started.count("&\n") == 1  # the harness's own &, not the README's as well
    assert f"127.0.0.1:{port}/v1/score" in session.command_for("curl -s 127.0.0.1:8000/v1/score\n")


@pytest.mark.parametrize(
    "block",
    [
        pytest.param(
            block, id=block.label, marks=[pytest.mark.skip(reason=block.skip_reason)] if block.skip_reason else []
        )
        for block in BLOCKS
    ],
)
@pytest.mark.timeout(BLOCK_TIMEOUT_SECONDS + 60)  # a block may train and start servers: more than one test's time
def test_readme_block_runs_as_written(block: Block, session: Session):
    if session.failed is not None:
        pytest.fail(f"an earlier block failed (README.md line {session.failed.line}): this one depends on it")
    script = session.script(block)
    try:
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=session.root,
            env=session.env,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as timeout:
        session.failed = block
        pytest.fail(f"README.md line {block.line}: still running after {BLOCK_TIMEOUT_SECONDS}s\n{timeout.stdout}")
    crashed = [name for name, text in session.new_server_output().items() if TRACEBACK in text]
    if TRACEBACK in done.stdout + done.stderr:
        crashed.insert(0, "the block")
    if done.returncode != 0 or crashed:
        session.failed = block
        what = f"exited {done.returncode}" if done.returncode != 0 else f"printed a traceback ({', '.join(crashed)})"
        pytest.fail(
            f"README.md block at line {block.line} {what}\n--- as run:\n{script}\n"
            f"--- stdout:\n{done.stdout[-6000:]}\n--- stderr:\n{done.stderr[-6000:]}"
            + "".join(f"\n--- {name}:\n{text[-6000:]}" for name, text in session.new_server_output(since=0).items())
        )
    session.remember(block)

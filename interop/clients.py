"""Running the non-Python client stacks (Node.js, Go, C, Ruby, PHP) from tests.

Each stack has a small program under interop/ that speaks JSON on stdin/stdout.
A stack whose toolchain is not installed makes its tests skip, naming the tool;
``.ci/install-clients`` installs them all (interop/CLIENTS.md).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

INTEROP = Path(__file__).resolve().parent
NODE_DIR = INTEROP / "node"
GO_DIR = INTEROP / "go"
C_DIR = INTEROP / "c"
RUBY_DIR = INTEROP / "ruby"
PHP_DIR = INTEROP / "php"
GOPATH_DEBIAN = "/usr/share/gocode"
HINT = "run .ci/install-clients (see interop/CLIENTS.md)"


def require_tool(tool: str) -> str:
    """The path of ``tool``, or skip: the toolchain is not installed here."""
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed; {HINT}")
    return path


def run_json(cmd: list[str], payload=None, *, timeout: float = 60, env=None, cwd=None):
    """Run a client program, hand it ``payload`` as JSON and return the JSON it prints."""
    proc = subprocess.run(
        cmd,
        input=None if payload is None else json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
    )
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd[:3]))} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"not JSON from {cmd[:3]}: {proc.stdout!r}\n{proc.stderr}") from exc


# --- Node.js ----------------------------------------------------------------


def node_command() -> list[str]:
    node = require_tool("node")
    if not (NODE_DIR / "node_modules" / "amqplib" / "package.json").exists():
        pytest.skip(f"the npm package amqplib is not installed in interop/node; {HINT}")
    return [node, str(NODE_DIR / "client.js")]


def node(command: str, payload, **kwargs):
    return run_json([*node_command(), command], payload, **kwargs)


# --- Go -----------------------------------------------------------------------


def go_environment(cache_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["GO111MODULE"] = "off"
    env["GOPATH"] = GOPATH_DEBIAN
    env["GOFLAGS"] = ""
    if not env.get("GOCACHE") and not env.get("HOME") and not env.get("XDG_CACHE_HOME"):
        env["GOCACHE"] = str(cache_dir)
    return env


_go_binary: Path | None = None


def go_client() -> list[str]:
    """The amqp091-go client program, built once per test session."""
    global _go_binary
    if _go_binary is None or not _go_binary.exists():
        out_dir = Path(tempfile.mkdtemp(prefix="amqpd-interop-go-"))
        atexit.register(shutil.rmtree, out_dir, True)
        _go_binary = build_go(out_dir)
    return [str(_go_binary)]


def go(command: str, payload, **kwargs):
    return run_json([*go_client(), command], payload, **kwargs)


def build_go(out_dir: Path) -> Path:
    """Build interop/go/amqpclient against Debian's amqp091-go; skip without Go."""
    go = require_tool("go")
    if not Path(GOPATH_DEBIAN, "src/github.com/rabbitmq/amqp091-go").is_dir():
        pytest.skip(f"Debian's golang-github-rabbitmq-amqp091-go-dev is not installed; {HINT}")
    binary = out_dir / "amqpclient"
    proc = subprocess.run(
        [go, "build", "-o", str(binary), "."],
        cwd=GO_DIR / "amqpclient",
        env=go_environment(out_dir / "gocache"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"go build failed:\n{proc.stdout}{proc.stderr}"
    return binary


# --- Ruby ---------------------------------------------------------------------


def ruby(command: str, payload, **kwargs):
    return run_json([*ruby_command(), command], payload, **kwargs)


def ruby_command() -> list[str]:
    ruby = require_tool("ruby")
    probe = subprocess.run([ruby, "-e", "require 'bunny'"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"the Ruby gem bunny is not installed ({probe.stderr.strip()}); {HINT}")
    return [ruby, str(RUBY_DIR / "client.rb")]


# --- PHP ----------------------------------------------------------------------


def php_command() -> list[str]:
    php = require_tool("php")
    probe = subprocess.run(
        [php, "-r", "require 'PhpAmqpLib/autoload.php';"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        pytest.skip(f"php-amqplib is not installed ({probe.stdout.strip()}); {HINT}")
    return [php, str(PHP_DIR / "client.php")]


def php(command: str, payload, **kwargs):
    return run_json([*php_command(), command], payload, **kwargs)

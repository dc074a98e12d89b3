"""The model's modules import one another in one direction only.

Every import counts: at module level, inside functions and under
TYPE_CHECKING. Each module may import only modules of lower layers (or of its
own layer, below it in the list), so a newcomer can draw the model bottom-up.
"""

from __future__ import annotations

import ast
from pathlib import Path

import amqpd.model

MODEL = Path(amqpd.model.__file__).parent

# Bottom to top; a module imports only modules listed before it.
LAYERS = [
    # primitives: no model imports, or only each other
    "errors", "names", "timers", "confirms", "topic", "exchange_types", "arguments",
    "queue_args", "access", "permissions", "session", "policies", "counters",
    # messages and queues
    "message", "deadletter", "ready", "stream", "queue", "exchange", "tracing",
    "transactions",
    # channels, the journal, topology and routing
    "channel", "journal", "vhost", "routing",
    # moving messages, and the features built on it
    "stream_readers", "dispatcher", "delayed", "reply_to", "parameters",
    # what handlers see, the handlers, the broker on top
    "context", "publish", "method_support", "topology", "handlers", "broker", "recovery",
    # readers and changers from outside AMQP (management API, CLI)
    "snapshot", "admin", "policy_admin", "accounts", "definitions",
]  # fmt: skip


def model_imports(path: Path) -> set[str]:
    """The amqpd.model modules ``path`` imports, wherever the import stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "amqpd.model":
                found.update(alias.name for alias in node.names)
            elif node.module.startswith("amqpd.model."):
                found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("amqpd.model."):
                    found.add(alias.name.split(".")[2])
    return found


def test_every_model_module_has_a_layer():
    modules = {p.stem for p in MODEL.glob("*.py") if p.stem != "__init__"}
    assert modules == set(LAYERS)


def test_the_model_imports_in_one_direction():
    position = {name: i for i, name in enumerate(LAYERS)}
    upward = [
        f"{name} imports {imported}"
        for name in LAYERS
        for imported in model_imports(MODEL / f"{name}.py")
        if position[imported] >= position[name]
    ]
    assert upward == []


def test_the_model_imports_nothing_above_it():
    """No server, store runner, CLI or test code: the model is plain logic."""
    for path in MODEL.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                assert not name.startswith(("amqpd.server", "amqpd.cli", "trio")), (path, name)


def test_the_checker_sees_imports_inside_functions_and_type_checking(tmp_path):
    source = tmp_path / "sample.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from amqpd.model.broker import Broker\n"
        "def f():\n    from amqpd.model import publish\n"
    )
    assert model_imports(source) == {"broker", "publish"}

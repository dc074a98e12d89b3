"""The scenario runner: each scenario runs in a fresh interpreter of the bench script.

A bench script names its scenarios, functions of (args, broker endpoint) that
return a dict of figures. ``Scenarios.run`` starts the script again with the same
flags plus ``--one NAME --endpoint JSON``; the child (``Scenarios.child``) runs
that one scenario and prints its figures as JSON on its last line. Nothing a
scenario leaves behind in the client (forked processes, buffers, garbage) can
then weigh on the next one.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable

from harness.brokers import Endpoint

Scenario = Callable[[argparse.Namespace, Endpoint], dict]


def parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser for a bench script, with the flags every bench takes."""
    p = argparse.ArgumentParser(
        description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--reference",
        metavar="URL",
        help="the reference RabbitMQ: host:port, amqp://user:pass@host:port/vhost, or 'none' "
        "(default: $AMQPD_REFERENCE_URL, $AMQPD_REFERENCE_HOSTPORT, 127.0.0.1:5672)",
    )
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--endpoint", help=argparse.SUPPRESS)
    return p


class Scenarios:
    def __init__(self, script: str, scenarios: dict[str, Scenario]) -> None:
        self.script = script
        self.scenarios = scenarios

    def child(self, args: argparse.Namespace) -> bool:
        """In the child: run the scenario asked for and print its figures (True);
        in the parent: nothing (False)."""
        if not args.one:
            return False
        figures = self.scenarios[args.one](args, Endpoint.from_json(args.endpoint))
        print(json.dumps(figures), flush=True)
        return True

    def run(self, name: str, broker: Endpoint) -> dict:
        """Scenario ``name`` against ``broker`` in a fresh interpreter; its figures.
        Its progress notes go to our stderr."""
        if name not in self.scenarios:
            raise KeyError(name)
        command = [sys.executable, self.script, *sys.argv[1:]]
        command += ["--one", name, "--endpoint", broker.to_json()]
        out = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

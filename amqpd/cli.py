"""The ``amqpd`` command: run the broker in the foreground."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from pathlib import Path

import trio

from amqpd import __version__
from amqpd.config import BrokerConfig, ConfigError, load_toml
from amqpd.server import definitions_file
from amqpd.server.collector import freeze_start_up
from amqpd.server.server import PortInUseError, Server
from amqpd.store import StoreError, prepare_folder

LOG_LEVELS = ("debug", "info", "warning", "error")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="amqpd", description="An AMQP 0-9-1 message broker that RabbitMQ clients can use."
    )
    parser.add_argument("--config", metavar="FILE", help="TOML file with settings")
    parser.add_argument("--bind", help="address to listen on (default 0.0.0.0)")
    parser.add_argument("--port", type=int, help="port to listen on (default 5672)")
    parser.add_argument(
        "--management-port",
        type=_port_or_off,
        help="port of the management HTTP API (default 15672; 0: any free one; off: none)",
    )
    parser.add_argument(
        "--prometheus-port",
        type=_port_or_off,
        help="port of the Prometheus metrics (default 15692; 0: any free one; off: none)",
    )
    parser.add_argument("--data-dir", help="folder for broker data (default ./amqpd-data)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, help="default info")
    parser.add_argument(
        "--load-definitions", metavar="FILE", help="RabbitMQ definitions (JSON) to import at start"
    )
    parser.add_argument("--version", action="version", version=f"amqpd {__version__}")
    return parser.parse_args(argv)


def _port_or_off(text: str) -> int | str:
    if text == "off":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number or 'off', not '{text}'") from None


def build_config(args: argparse.Namespace) -> BrokerConfig:
    config = load_toml(args.config) if args.config else BrokerConfig()
    overrides = {
        key: value
        for key, value in (
            ("bind", args.bind),
            ("port", args.port),
            ("data_dir", args.data_dir),
            ("log_level", args.log_level),
            ("load_definitions", args.load_definitions),
        )
        if value is not None
    }
    if args.management_port is not None:
        overrides["management_port"] = (
            None if args.management_port == "off" else args.management_port
        )
    if args.prometheus_port is not None:
        overrides["prometheus_port"] = (
            None if args.prometheus_port == "off" else args.prometheus_port
        )
    config = config.replace(**overrides)
    for name, port in (
        ("port", config.port),
        ("management port", config.management_port),
        ("prometheus port", config.prometheus_port),
    ):
        if port is not None and not 0 <= port <= 65535:
            raise ConfigError(f"{name} {port} is out of range (0-65535)")
    if config.store not in ("sqlite", "memory"):
        raise ConfigError(f"store must be 'sqlite' or 'memory', not '{config.store}'")
    if config.log_level not in LOG_LEVELS:
        raise ConfigError(f"log_level must be one of {', '.join(LOG_LEVELS)}")
    if config.load_definitions:
        definitions_file.read(config.load_definitions)  # a bad file stops us before the ports open
    return config


def prepare_data_dir(path: str) -> Path:
    """The data folder, checked before anything starts (a settings problem: exit 2)."""
    try:
        return prepare_folder(path)
    except StoreError as err:
        raise ConfigError(str(err)) from None


async def serve(config: BrokerConfig) -> None:
    server = Server(config)
    with contextlib.ExitStack() as catching:
        # Catch signals before the port opens: whoever starts us may signal as soon
        # as it can connect, and that must still be a graceful stop.
        signals = catching.enter_context(trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM))
        await server.bind()  # outside the nursery, so a taken port is a plain error
        freeze_start_up()  # the store is read: the collector leaves what lives for good alone
        async with trio.open_nursery() as nursery:
            await nursery.start(server.run)
            async for signum in signals:
                logging.getLogger("amqpd").info(
                    "received %s, shutting down", signal.Signals(signum).name
                )
                server.stop()
                break
            catching.close()  # as before, a second signal ends the shutdown grace at once
            await server.wait_stopped()


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    if words and words[0] in ("ctl", "diagnostics"):  # rabbitmqctl's and -diagnostics' commands
        from amqpd.ctl.main import run  # a client of the management API, loaded only here

        return run(words[0], words[1:])
    args = parse_args(argv)
    try:
        config = build_config(args)
        prepare_data_dir(config.data_dir)
    except ConfigError as err:
        print(f"amqpd: {err}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        trio.run(serve, config)
    except ConfigError as err:  # a definitions file refused at start
        print(f"amqpd: {err}", file=sys.stderr)
        return 2
    except StoreError as err:
        print(f"amqpd: {err}", file=sys.stderr)
        return 1
    except PortInUseError as err:
        print(
            f"amqpd: port {err.port} on {err.bind} is already in use "
            f"(another broker?); choose another with {err.flag}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

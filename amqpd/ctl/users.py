"""add_user, delete_user, change_password, set_user_tags, list_users."""

from __future__ import annotations

from amqpd.ctl.client import ApiError, quote
from amqpd.ctl.command import Command, Invocation, Result, Text, register
from amqpd.ctl.errors import NOUSER, SOFTWARE, failed
from amqpd.ctl.lists import ListSpec, list_command

ADDED = (
    "Done. Don't forget to grant the user permissions to some virtual hosts! "
    "See 'rabbitmqctl help set_permissions' to learn more."
)


def user_path(name: str) -> str:
    return f"/api/users/{quote(name)}"


def existing_user(inv: Invocation) -> dict:
    try:
        user = inv.client.get(user_path(inv.args[0]))
    except ApiError as err:
        if err.status == 404:
            raise failed(f'User "{inv.args[0]}" does not exist', NOUSER) from None
        raise failed(err.reason) from None
    return user if isinstance(user, dict) else {}


def put_user(inv: Invocation, body: dict) -> None:
    try:
        inv.client.put(user_path(inv.args[0]), body)
    except ApiError as err:
        raise failed(err.reason) from None


def add(inv: Invocation) -> Result:
    if inv.client.exists(user_path(inv.args[0])):
        raise failed(f'User "{inv.args[0]}" already exists', SOFTWARE)
    put_user(inv, {"password": inv.args[1], "tags": ""})
    return Text([ADDED])


def delete(inv: Invocation) -> Result:
    existing_user(inv)
    inv.client.delete(user_path(inv.args[0]))
    return None


def change_password(inv: Invocation) -> Result:
    user = existing_user(inv)
    put_user(inv, {"password": inv.args[1], "tags": ",".join(user.get("tags", []))})
    return None


def set_tags(inv: Invocation) -> Result:
    user = existing_user(inv)
    put_user(
        inv,
        {
            "password_hash": user.get("password_hash", ""),
            "hashing_algorithm": user.get("hashing_algorithm", "rabbit_password_hashing_sha256"),
            "tags": ",".join(inv.args[1:]),
        },
    )
    return None


register(
    "ctl",
    Command(
        name="add_user",
        usage="add_user <username> <password>",
        run=add,
        banner=lambda inv: f'Adding user "{inv.args[0]}" ...',
        nargs=(2, 2),
    ),
    Command(
        name="delete_user",
        usage="delete_user <username>",
        run=delete,
        banner=lambda inv: f'Deleting user "{inv.args[0]}" ...',
        nargs=(1, 1),
    ),
    Command(
        name="change_password",
        usage="change_password <username> <password>",
        run=change_password,
        banner=lambda inv: f'Changing password for user "{inv.args[0]}" ...',
        nargs=(2, 2),
    ),
    Command(
        name="set_user_tags",
        usage="set_user_tags <username> <tag> [...]",
        run=set_tags,
        banner=lambda inv: (
            f'Setting tags for user "{inv.args[0]}" to [{", ".join(inv.args[1:])}] ...'
        ),
        nargs=(1, 64),
    ),
    list_command(
        ListSpec(
            name="list_users",
            path="/api/users",
            known=("user", "tags"),
            default=("user", "tags"),
            banner=lambda inv: "Listing users ...",
            getters={"user": lambda u: u.get("name")},
        )
    ),
)

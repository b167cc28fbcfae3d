"""``kefu run actions`` (bot/commands/actions_cmd.py) serves the actions package on rasa-sdk's server."""

from __future__ import annotations

import argparse
import json
import urllib.request

from bot.commands import actions_cmd


def test_arguments_follow_rasa_sdk() -> None:
    parser = argparse.ArgumentParser()
    actions_cmd.add_args(parser)
    args = parser.parse_args([])
    assert (args.port, args.actions, args.cors) == (5055, "actions", None)
    sdk = actions_cmd._rasa_sdk_args(parser.parse_args(["--cors", "*", "-p", "6000"]))
    assert (sdk.port, sdk.actions, sdk.cors) == (6000, "actions", ["*"])


def test_serves_every_action(spawn, port: int) -> None:
    spawn(["-m", "bot.commands.actions_cmd", "--port", str(port), "--orders-url", "http://127.0.0.1:9"], port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/actions") as reply:
        names = {a["name"] for a in json.loads(reply.read())}
    assert {"action_check_order_status", "action_recommend_products", "validate_return_form"} <= names

"""``kefu shell [--debug] [--explain]``: talk to the assistant in the terminal.

With ``--debug`` every turn also shows the parse (intent, confidence, sentiment, entities), the
slots that are set, and for each predicted action every policy's vote. With ``--explain`` every
typed message also shows the words that drove the predicted intent (occlusion) and the time that took.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from typing import Any

from rich.console import Console
from rich.markup import escape

from bot.channels.base import CollectingOutputChannel, UserMessage
from bot.explain import explain_intent, format_explanation
from bot.model_archive import load_model, resolve_model_path

STOP_COMMANDS = ("/stop", "/quit", "/exit")


def add_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--model", default="models", help="a model, or a folder of models (newest is used)")
    parser.add_argument("--endpoints", default="endpoints.yml", help="endpoints file (stores, action server)")
    parser.add_argument("--sender-id", default=None, help="conversation id (default: a new one)")
    parser.add_argument("--explain", dest="shell_explain", action="store_true",
                        help="show which words drove the predicted intent (occlusion) and how long that took")
    parser.add_argument("--debug", dest="shell_debug", action="store_true",
                        help="show intent, sentiment, slots and each policy's vote")


def format_votes(next_action: Any) -> list[str]:
    """One line per policy vote of a prediction (best first)."""
    prediction = next_action.prediction
    votes = list(getattr(prediction, "votes", None) or ([prediction] if prediction is not None else []))
    lines = []
    for vote in votes:
        mark = "→" if getattr(vote, "policy_name", None) == next_action.policy else " "
        lines.append(f"   {mark} {getattr(vote, 'policy_name', '?'):<28} {getattr(vote, 'action_name', None) or '-':<32}"
                     f" {float(getattr(vote, 'confidence', 0.0) or 0.0):.2f}")
    return lines


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_shell(args))


async def _shell(args: argparse.Namespace) -> int:
    from bot.actions import ActionClient, ActionEndpoint
    from bot.loaders.endpoints_loader import load_endpoints
    from bot.offers import OfferSettings
    from bot.processor import HandoffSettings, MessageProcessor
    from bot.stores import create_lock_store, create_tracker_store

    console = Console(highlight=False, soft_wrap=True)
    agent = await asyncio.to_thread(load_model, resolve_model_path(args.model))
    endpoints = load_endpoints(args.endpoints)
    endpoint = ActionEndpoint.from_config(endpoints.action_endpoint)
    client = ActionClient(endpoint) if endpoint else None
    processor = MessageProcessor(agent, create_tracker_store(endpoints.tracker_store, agent.domain),
                                 create_lock_store(endpoints.lock_store), client,
                                 HandoffSettings.from_config(endpoints.other.get("handoff")),
                                 offers=OfferSettings.from_config(endpoints.other.get("offers")))
    debug_lines: list[str] = []
    if args.shell_debug and hasattr(agent.policy, "all_votes"):
        agent.policy.all_votes = True  # show every policy's vote, not only those that could win
    if args.shell_debug:
        def listen(tracker: Any, next_action: Any) -> None:
            debug_lines.append(f"  [dim]next[/dim] [bold]{next_action.name}[/bold] ({next_action.policy}, "
                               f"{float(next_action.confidence or 0):.2f})")
            debug_lines.extend(f"[dim]{line}[/dim]" for line in format_votes(next_action))

        processor.prediction_listeners.append(listen)
    sender = args.sender_id or uuid.uuid4().hex[:8]
    console.print(f"Kefu shell — model {agent.model_path}. Type a message; {STOP_COMMANDS[0]} to quit.")
    try:
        while True:
            try:
                text = await asyncio.to_thread(input, "Your input ->  ")
            except EOFError:
                break
            if text.strip() in STOP_COMMANDS:
                break
            debug_lines.clear()
            channel = CollectingOutputChannel()
            tracker = await processor.handle_message(UserMessage(text, sender, input_channel="cmdline"), channel)
            if args.shell_debug:
                _print_parse(console, tracker)
                for line in debug_lines:
                    console.print(line)
            if getattr(args, "shell_explain", False) and agent.interpreter is not None and not text.startswith("/"):
                explanation = await asyncio.to_thread(explain_intent, agent.interpreter.parse, text,
                                                      parse_batch=getattr(agent.interpreter, "parse_batch", None))
                console.print(f"  [dim]{escape(format_explanation(explanation))}[/dim]")
            for message in channel.messages:
                _print_message(console, message)
            if tracker.paused:
                console.print("[yellow](conversation handed off to a human: the bot stays quiet)[/yellow]")
    finally:
        if client is not None:
            await client.close()
    return 0


def _print_parse(console: Console, tracker: Any) -> None:
    latest = tracker.latest_message or {}
    intent = latest.get("intent") or {}
    sentiment = latest.get("sentiment") or {}
    console.print(f"  [dim]intent[/dim] {intent.get('name')} ({float(intent.get('confidence') or 0):.2f})"
                  + (f"  [dim]sentiment[/dim] {sentiment.get('label')} ({float(sentiment.get('confidence') or 0):.2f})"
                     if sentiment else ""))
    entities = latest.get("entities") or []
    if entities:
        console.print("  [dim]entities[/dim] " + ", ".join(f"{e.get('entity')}={e.get('value')!r}" for e in entities))
    slots = {k: v for k, v in tracker.slots.items() if v is not None}
    console.print("  [dim]slots[/dim] " + (", ".join(f"{k}={v!r}" for k, v in slots.items()) or "-"))


def _print_message(console: Console, message: dict[str, Any]) -> None:
    if message.get("text"):
        console.print(f"[cyan]{message['text']}[/cyan]")
    for index, button in enumerate(message.get("buttons") or []):
        console.print(f"  {index + 1}: {button.get('title')} ({button.get('payload')})")
    for key in ("image", "attachment", "custom"):
        if message.get(key):
            console.print(f"  {key}: {message[key]}")

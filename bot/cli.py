"""``kefu``: a command line shaped like Rasa's (``kefu`` where you typed ``rasa``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from bot.errors import KefuError

Handler = Callable[[argparse.Namespace], int]

def build_parser() -> argparse.ArgumentParser:
    """The whole ``kefu`` argument parser."""
    from bot.commands import (
        actions_cmd,
        data_cmd,
        init_cmd,
        nlu_cmd,
        privacy_cmd,
        run_cmd,
        shell_cmd,
        sim_cmd,
        test_core_cmd,
        train_cmd,
    )

    parser = argparse.ArgumentParser(
        prog="kefu",
        description="Kefu: Rasa-compatible customer-service chatbots for online shops.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--version", action="store_true", help="print Kefu's version and exit")
    commands = parser.add_subparsers(dest="command", metavar="<command>")

    init = commands.add_parser("init", help="create a new project from the demo shop assistant")
    init_cmd.add_args(init)
    init.set_defaults(handler=init_cmd.run)

    data = commands.add_parser("data", help="check training data")
    data_sub = data.add_subparsers(dest="data_command", metavar="<data command>")
    validate = data_sub.add_parser("validate", help="validate domain, config and training data")
    data_cmd.add_validate_args(validate)
    validate.set_defaults(handler=data_cmd.run_validate)

    train = commands.add_parser("train", help="train the NLU and dialogue models")
    train_cmd.add_args(train)
    train.set_defaults(handler=train_cmd.run)
    train_sub = train.add_subparsers(dest="train_command", metavar="<part>")
    train_nlu = train_sub.add_parser("nlu", help="train only the NLU model")
    nlu_cmd.add_train_nlu_args(train_nlu)
    train_nlu.set_defaults(handler=nlu_cmd.run_train_nlu)
    train_core = train_sub.add_parser("core", help="train only the dialogue policies")
    train_cmd.add_args(train_core)
    train_core.set_defaults(handler=train_cmd.run_core)
    train_reco = train_sub.add_parser("recommender", help="train the two-tower recommendation model")
    actions_cmd.add_train_reco_args(train_reco)
    train_reco.set_defaults(handler=actions_cmd.run_train_reco)

    test = commands.add_parser("test", help="evaluate a trained model")
    test_sub = test.add_subparsers(dest="test_command", metavar="<part>")
    test_nlu = test_sub.add_parser("nlu", help="evaluate the NLU model (Rasa's report layout)")
    nlu_cmd.add_test_nlu_args(test_nlu)
    test_nlu.set_defaults(handler=nlu_cmd.run_test_nlu)
    test_core = test_sub.add_parser("core", help="evaluate the dialogue model on test stories")
    test_core_cmd.add_args(test_core)
    test_core.set_defaults(handler=test_core_cmd.run)
    test.set_defaults(handler=lambda args: (test.print_help(), 0)[1])

    shell = commands.add_parser("shell", help="talk to the assistant in the terminal")
    shell_cmd.add_args(shell)
    shell.set_defaults(handler=shell_cmd.run)

    run = commands.add_parser("run", help="start the assistant's HTTP server (or 'run actions')")
    run_cmd.add_args(run)
    run.set_defaults(handler=run_cmd.run)
    run_sub = run.add_subparsers(dest="run_command", metavar="[actions]")
    run_actions = run_sub.add_parser("actions", help="start the action server (port 5055)")
    actions_cmd.add_args(run_actions)
    run_actions.set_defaults(handler=actions_cmd.run)

    backends = commands.add_parser("backends", help="serve the demo shop's order and recommendation backends")
    actions_cmd.add_backend_args(backends)
    backends.set_defaults(handler=actions_cmd.run_backends)

    forget = commands.add_parser("forget", help="erase a shopper's conversation from every store (GDPR)")
    privacy_cmd.add_forget_args(forget)
    forget.set_defaults(handler=privacy_cmd.run_forget)
    audit = commands.add_parser("audit", help="audits: 'audit recommendations' (fairness over shopper groups)")
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="<audit>")
    audit_reco = audit_sub.add_parser("recommendations", help="recommender fairness over shopper groups (JSON + PNG)")
    privacy_cmd.add_audit_args(audit_reco)
    audit_reco.set_defaults(handler=privacy_cmd.run_audit)
    audit.set_defaults(handler=lambda args: (audit.print_help(), 0)[1])

    sim = commands.add_parser("sim", help="user simulator: train | evaluate | compare | chat")
    sim_sub = sim.add_subparsers(dest="sim_command", metavar="<sim command>")
    sim_cmd.add_sim_args(sim_sub)
    sim.set_defaults(handler=lambda args: (sim.print_help(), 0)[1])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kefu`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.INFO, format="%(message)s")
    if args.version:
        from importlib.metadata import version

        print(f"kefu {version('kefu')}")
        return 0
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    try:
        return int(handler(args) or 0)
    except KefuError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

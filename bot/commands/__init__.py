"""CLI command implementations; ``bot/cli.py`` wires them into ``kefu``'s argument parser."""

"""Kefu nlu package."""

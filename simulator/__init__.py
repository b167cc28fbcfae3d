"""Kefu simulator package."""

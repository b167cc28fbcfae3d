"""Kefu actions package."""

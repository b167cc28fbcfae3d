"""Kefu bot package."""

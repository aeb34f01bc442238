"""Tinn: an open Python implementation of the Altinn 3 digital-services platform."""

__version__ = "0.1.0"

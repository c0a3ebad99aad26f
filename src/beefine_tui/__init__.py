"""Beefine TUI: see what the kernel does when Docker makes a container."""

__version__ = "0.1.0"

"""Textual screens. They consume events and engine results; they never import BCC."""

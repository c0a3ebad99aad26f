"""Probes: BPF programs, their metadata and decoders, and the runners that load them.

Nothing in this package imports Textual. BCC is imported lazily inside runners only, so the catalog
can be listed and sources rendered without root or BCC.
"""

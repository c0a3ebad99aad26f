"""Docker: SDK wrapper, the lab (private dockerd + local registry), /proc and cgroup readers.

No Textual imports here.
"""

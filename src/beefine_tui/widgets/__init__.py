"""Reusable Textual widgets: event log, timeline, probe status strip, charts."""

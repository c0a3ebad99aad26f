"""Events: the one record every probe produces, the bounded bus that carries them, and JSON lines."""

from beefine_tui.events.bus import Bus, Subscription
from beefine_tui.events.model import Event, RecordHeader, lost_event

__all__ = ["Bus", "Event", "RecordHeader", "Subscription", "lost_event"]

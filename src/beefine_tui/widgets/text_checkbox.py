"""A checkbox whose state is in its text, not only its colour.

Textual's Checkbox draws `▐X▌` on and off alike and tells them apart by colour, which cannot be read on
16-colour terminals (TERM=linux, screen) or by anyone who does not see the colours: this one draws
`[x]` and `[ ]`.
"""

from __future__ import annotations

from textual.widgets import Checkbox


class TextCheckbox(Checkbox):
    BUTTON_LEFT = "["
    BUTTON_RIGHT = "]"

    @property
    def BUTTON_INNER(self) -> str:  # type: ignore[override]
        return "x" if self.value else " "

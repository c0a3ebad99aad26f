"""`python -m beefine_tui.probes.user_program --precheck`: the precheck child (see precheck.py). Its own
module, so running it does not import precheck.py a second time as __main__."""

import sys

from beefine_tui.probes.user_program.precheck import precheck_child

if __name__ == "__main__" and "--precheck" in sys.argv:
    sys.exit(precheck_child())

"""Pausing the cyclic garbage collector while a storage builds many objects at once (private).

Reading thousands of trials creates tens of thousands of tuples, dicts and lists that all
stay alive. Each allocation burst makes the collector scan the young objects, and the growing
heap makes the full scans more and more expensive, although none of these objects can be
garbage yet: building 5000 trials from rows took 76 ms with the collector on and 31 ms with
it paused.

Objects made while the collector is off are still young when it is turned back on, and the
next two collections of the young generations would each walk all of them: after the first
read of a million-trial study (two million tracked objects), a pause of some 190 ms each, in
the middle of the next trials. A block that leaves many new objects behind therefore moves
them, with everything else the collector tracks, to the oldest generation at once
(``gc.freeze()`` then ``gc.unfreeze()``: two list splices, whatever their length); only full
collections, as rare as the heap is large, walk them from then on.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["SETTLE_AT", "gc_paused"]

#: New tracked objects a block must leave behind for them to be moved to the oldest
#: generation on leaving it (a first read of some 25 000 trials or more; below it, the
#: young collections that follow cost a few milliseconds at most).
SETTLE_AT = 50_000

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Keep the cyclic collector off inside the block.

    Safe for threads and nesting: the collector is turned off by the first block to enter and
    turned back on by the last one to leave, and only if it was on when the first one
    entered. (A ``gc.disable()`` made by another thread while a block runs is undone when the
    last block leaves.)

    When the last block leaves at least :data:`SETTLE_AT` more tracked objects than there
    were at the last collection, every tracked object is moved to the oldest generation,
    unless the program has frozen objects itself (``gc.freeze()``), which this never undoes.
    Nothing is collected any later than a full collection would have collected it.
    """
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                if gc.get_count()[0] >= SETTLE_AT and gc.get_freeze_count() == 0:
                    gc.freeze()
                    gc.unfreeze()
                if _was_enabled:
                    gc.enable()

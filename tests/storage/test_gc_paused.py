"""trialstore/storage/_gc.py: the collector is off inside gc_paused, across threads and nesting."""

from __future__ import annotations

import gc
import threading

from trialstore.storage._gc import SETTLE_AT, gc_paused


def test_collector_is_off_inside_and_restored_after() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block still holds it
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_overlapping_blocks_in_threads_turn_it_on_once_the_last_leaves() -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = []

    def first() -> None:
        with gc_paused():
            first_in.set()
            second_in.wait()
        first_out.set()

    def second() -> None:
        first_in.wait()
        with gc_paused():
            second_in.set()
            first_out.wait()
            seen.append(gc.isenabled())  # the first thread has left: still off
        seen.append(gc.isenabled())

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert seen == [False, True]


def _generation_of(obj: object) -> int | None:
    for generation in range(3):
        if any(o is obj for o in gc.get_objects(generation=generation)):
            return generation
    return None


def test_a_block_that_leaves_many_objects_moves_them_to_the_oldest_generation() -> None:
    gc.collect()
    with gc_paused():
        kept = [[i] for i in range(SETTLE_AT)]  # tracked objects that stay alive
    assert gc.get_count()[0] < SETTLE_AT // 10
    assert _generation_of(kept[-1]) == 2
    assert gc.isenabled()


def test_a_small_block_leaves_its_objects_young() -> None:
    gc.collect()
    with gc_paused():
        kept = [[i] for i in range(100)]
    assert _generation_of(kept[-1]) in (0, 1)


def test_objects_the_program_froze_stay_frozen() -> None:
    gc.collect()
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with gc_paused():
            kept = [[i] for i in range(SETTLE_AT)]
        assert gc.get_freeze_count() == frozen
        assert _generation_of(kept[-1]) in (0, 1)  # left to the collector as it is
    finally:
        gc.unfreeze()

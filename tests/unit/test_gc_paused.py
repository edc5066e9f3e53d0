"""`scores.gc_paused`: the cyclic collector is off while any batch section runs, in any thread, back on
when the last one ends, and left off if it was off before; small sections leave it alone."""

from __future__ import annotations

import gc
import threading

from service.results.scores import GC_PAUSE_FROM, gc_paused


def test_the_collector_is_back_on_when_the_last_overlapping_section_ends() -> None:
    assert gc.isenabled()
    first_in, second_out = threading.Event(), threading.Event()

    def other_batch() -> None:
        with gc_paused(GC_PAUSE_FROM):
            first_in.set()
            second_out.wait(5)

    thread = threading.Thread(target=other_batch)
    thread.start()
    assert first_in.wait(5)
    assert not gc.isenabled()
    with gc_paused(GC_PAUSE_FROM):
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other thread's section still runs
    second_out.set()
    thread.join(5)
    assert gc.isenabled()


def test_a_small_section_and_a_collector_off_before_are_left_alone() -> None:
    with gc_paused(GC_PAUSE_FROM - 1):
        assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused(GC_PAUSE_FROM):
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()

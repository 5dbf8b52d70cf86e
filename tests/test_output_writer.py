"""The background output writer: order, bounded queue, errors re-raised; the stage timers."""

import threading
import time

import numpy as np
import pytest

from persam.data.io import read_mask, write_mask
from persam.experiments.output_writer import OutputWriter
from persam.experiments.stage_times import StageTimes


def test_writes_every_item_in_order_on_another_thread(tmp_path):
    seen, threads = [], set()

    def record(i):
        seen.append(i)
        threads.add(threading.get_ident())

    with OutputWriter(max_pending=2) as writer:
        for i in range(20):
            writer.submit(record, i)
    assert seen == list(range(20))
    assert threads and threading.get_ident() not in threads


def test_real_mask_written_before_close_returns(tmp_path):
    mask = np.zeros((30, 40), dtype=bool)
    mask[5:10, 7:20] = True
    writer = OutputWriter()
    writer.submit(write_mask, tmp_path / "a" / "m.png", mask)
    writer.close()
    assert np.array_equal(read_mask(tmp_path / "a" / "m.png"), mask)


def test_first_error_is_reraised_by_close_and_later_items_skipped():
    ran = []

    def fail(message):
        raise OSError(message)

    writer = OutputWriter()
    writer.submit(fail, "disk full: first")
    writer.submit(fail, "second")
    writer.submit(ran.append, 1)
    with pytest.raises(OSError, match="disk full: first"):
        writer.close()
    assert ran == []


def test_error_is_reraised_by_the_next_submit():
    writer = OutputWriter()
    writer.submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        for _ in range(100):  # the failing item runs soon; the next submit after it raises
            writer.submit(time.sleep, 0.001)
    writer.close()


def test_submit_after_close_is_an_error():
    writer = OutputWriter()
    writer.close()
    with pytest.raises(RuntimeError, match="after close"):
        writer.submit(print)


def test_block_error_wins_over_writer_error():
    with pytest.raises(KeyError):
        with OutputWriter() as writer:
            writer.submit(lambda: 1 / 0)
            raise KeyError("the block's own")


def test_stage_times_accumulate_across_threads():
    times = StageTimes()
    with times("read"):
        time.sleep(0.01)
    worker = threading.Thread(target=lambda: times.add("write_masks", 0.5))
    worker.start()
    worker.join()
    timed = times.timed("read", lambda x: x + 1)
    assert timed(1) == 2
    summary = times.summary()
    assert summary["read"]["calls"] == 2 and summary["read"]["seconds"] >= 0.01
    assert summary["write_masks"] == {"seconds": 0.5, "calls": 1}

"""The explorer's state signatures: equal for equal states, different whenever anything
a later step could read differs (a generator's position, its locals, its loop iterator,
a closure, sharing), blind only to the counters no decision reads."""
from sw_model.kernel.state_signature import signature


class Box:
    def __init__(self, value):
        self.value = value


class Kernel:
    """Named like the model's kernel, whose ``stats`` are skipped."""

    def __init__(self):
        self.stats, self.pages = {}, [Box(1)]


def walk(items):
    for item in items:
        yield item


def started(gen, steps):
    for _ in range(steps):
        next(gen)
    return gen


def test_equal_states_have_equal_signatures():
    assert signature(started(walk([1, 2]), 1)) == signature(started(walk([1, 2]), 1))
    assert signature(Kernel()) == signature(Kernel())


def test_a_generator_differs_by_position_locals_and_loop_iterator():
    assert signature(started(walk([1, 2]), 1)) != signature(started(walk([1, 2]), 2))
    assert signature(started(walk([1, 2]), 1)) != signature(started(walk([3, 2]), 1))
    # Same line, same local ``item``: only the loop's iterator tells them apart.
    assert signature(started(walk([1, 1]), 1)) != signature(started(walk([1, 1]), 2))


def reader(box):
    return lambda: box.value


def test_closures_and_sharing_count():
    a, b = Box(1), Box(1)
    assert signature(reader(a)) == signature(reader(b))
    assert signature(reader(a)) != signature(reader(Box(2)))
    assert signature([a, a]) != signature([a, b])


def test_counters_no_decision_reads_are_left_out():
    counted = Kernel()
    counted.stats["faults"] = 3
    assert signature(counted) == signature(Kernel())
    changed = Kernel()
    changed.pages[0].value = 2
    assert signature(changed) != signature(Kernel())


def test_the_page_pool_writes_untouched_frames_by_address():
    """Frames never handed out are as built: written short, so a pool of them costs
    little; a frame once handed out is written in full, so its changes count."""
    from sw_model.kernel.page_alloc import PageAllocator
    pools = [PageAllocator(0x100000, 64) for _ in range(3)]
    assert signature(pools[0]) == signature(pools[1])
    assert len(signature(pools[0])) < 1000
    for pool in pools[1:]:
        pool.folio_at(0x101000)
    assert signature(pools[1]) == signature(pools[2])
    pools[2].folio_at(0x101000).dirty = True
    assert signature(pools[1]) != signature(pools[2])
    pools[1].alloc("anon")
    assert signature(pools[1]) != signature(pools[0])

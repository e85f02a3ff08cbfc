"""Sleeping and spinning locks as the scheduler sees them: taking a held lock yields a
``Blocked`` step, so another agent runs until the holder releases it."""
from .sched import Blocked


class SpinLock:
    """spinlock_t (the page-table lock)."""

    def __init__(self, name):
        self.name, self.holder = name, None

    def lock(self, agent):
        while self.holder is not None:
            yield Blocked(lambda: self.holder is None, self.name)
        self.holder = agent

    def unlock(self, agent):
        assert self.holder == agent, f"{agent} releases {self.name} held by {self.holder}"
        self.holder = None


class RWSemaphore:
    """struct rw_semaphore (mmap_lock): many readers or one writer."""

    def __init__(self, name):
        self.name, self.readers, self.writer = name, set(), None

    def down_read(self, agent):
        while self.writer is not None:
            yield Blocked(lambda: self.writer is None, f"{self.name} (read)")
        self.readers.add(agent)

    def up_read(self, agent):
        self.readers.remove(agent)

    def down_write(self, agent):
        while self.writer is not None or self.readers:
            yield Blocked(lambda: self.writer is None and not self.readers,
                          f"{self.name} (write)")
        self.writer = agent

    def up_write(self, agent):
        assert self.writer == agent
        self.writer = None

    def downgrade_write(self, agent):
        """downgrade_write(): the writer becomes a reader without letting a writer in."""
        self.up_write(agent)
        self.readers.add(agent)

"""Cycle-matched model of ``hdl.arbiter.MemoryArbiter``.

The arbiter passes a granted request through to memory and the memory's response back,
so some outputs follow the same cycle's inputs: ``outputs(inp)`` takes them."""


class ArbiterInputs:
    """Per requester a valid bit (mask) and a packed MemRequest; the memory's ready, and
    its response (valid, packed MemResponse)."""
    __slots__ = ("req_valid", "req_payload", "mem_ready", "mem_resp_valid", "mem_resp")

    def __init__(self, requesters):
        self.req_valid = 0
        self.req_payload = [0] * requesters
        self.mem_ready = self.mem_resp_valid = self.mem_resp = 0


class ArbiterRef:
    def __init__(self, requesters):
        if not isinstance(requesters, int) or isinstance(requesters, bool) \
                or not 1 <= requesters <= 16:
            raise ValueError(f"requesters must be an integer from 1 to 16, not {requesters!r}")
        self.requesters = requesters
        self.rr = 0
        self.busy = False
        self.offering = False
        self.owner = 0

    def outputs(self, inp):
        """(req_ready mask, resp_valid mask, mem_req_valid, packed MemRequest or None)."""
        ready = (1 << self.owner) if self.offering and inp.mem_ready else 0
        resp = (1 << self.owner) if inp.mem_resp_valid else 0
        payload = inp.req_payload[self.owner] if self.offering else None
        return ready, resp, int(self.offering), payload

    def grant(self, req_valid):
        if not req_valid:
            return None
        for offset in range(self.requesters):
            i = (self.rr + offset) % self.requesters
            if req_valid >> i & 1:
                return i
        return None

    def tick(self, inp):
        busy, offering = self.busy, self.offering
        grant = None if busy else self.grant(inp.req_valid)     # a busy arbiter grants none
        if grant is not None:
            self.busy = self.offering = True
            self.owner = grant
            self.rr = 0 if grant == self.requesters - 1 else grant + 1
        if offering and inp.mem_ready:
            self.offering = False
        if busy and not offering and inp.mem_resp_valid:
            self.busy = False

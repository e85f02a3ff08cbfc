"""Memory arbiter: many requesters (walkers, the host) share one memory port.

Fair by round-robin: when the memory port is free, the first requester with a valid
request at or after the pointer is granted, and the pointer moves past it. One
transaction is in flight at a time: the granted request is passed through to memory, and
the next grant waits for its response, which goes back to the granted requester only.
So a requester waiting with a valid request is granted within ``requesters`` memory
transactions. Model twin: ``sw_model.arbiter_ref.ArbiterRef``.
"""
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .ports import MemRequest, MemResponse


class MemoryArbiter(wiring.Component):
    def __init__(self, requesters):
        if not isinstance(requesters, int) or isinstance(requesters, bool) \
                or not 1 <= requesters <= 16:
            raise ValueError(f"requesters must be an integer from 1 to 16, not {requesters!r}")
        self.requesters = requesters
        super().__init__({
            "req": In(stream.Signature(MemRequest)).array(requesters),
            "resp": Out(stream.Signature(MemResponse, always_ready=True)).array(requesters),
            "mem_req": Out(stream.Signature(MemRequest)),
            "mem_resp": In(stream.Signature(MemResponse, always_ready=True)),
        })
        self.rr = Signal(range(requesters))
        self.busy = Signal()          # a transaction is in flight (granted, not answered)
        self.owner = Signal(range(requesters))
        self.offering = Signal()      # the granted request is offered to memory

    def elaborate(self, platform):
        m = Module()
        n = self.requesters
        grant = Signal(range(n))
        any_valid = Signal()
        with m.Switch(self.rr):
            for start in range(n):
                with m.Case(start):
                    for offset in reversed(range(n)):
                        i = (start + offset) % n
                        with m.If(self.req[i].valid):
                            m.d.comb += [grant.eq(i), any_valid.eq(1)]

        # Grant in a free cycle; the request is then offered to memory until taken.
        payload = Signal(MemRequest)
        with m.If(~self.busy & any_valid):
            m.d.sync += [self.busy.eq(1), self.offering.eq(1), self.owner.eq(grant),
                         self.rr.eq(Mux(grant == n - 1, 0, grant + 1))]
        for i in range(n):
            with m.If(self.owner == i):
                m.d.comb += payload.eq(self.req[i].payload)
        m.d.comb += [self.mem_req.valid.eq(self.offering), self.mem_req.payload.eq(payload)]
        for i in range(n):
            m.d.comb += self.req[i].ready.eq(self.offering & (self.owner == i)
                                             & self.mem_req.ready)
        with m.If(self.offering & self.mem_req.ready):
            m.d.sync += self.offering.eq(0)
        with m.If(self.busy & ~self.offering & self.mem_resp.valid):
            m.d.sync += self.busy.eq(0)
        for i in range(n):
            m.d.comb += [self.resp[i].valid.eq(self.mem_resp.valid & (self.owner == i)),
                         self.resp[i].payload.eq(self.mem_resp.payload)]
        return m

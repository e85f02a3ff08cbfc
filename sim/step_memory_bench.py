"""cocotb bench of the board memory alone (``hdl/step_memory.py``, either RAM): seeded
random requests against a Python memory, with the clock enable ``step`` low in random
cycles (also between a request's steps c + 1 and c + 2, as when a command ends with a
walk in flight), the next request taken in the step that answers the last one, requests
offered while not stepping (ignored), and clears. Every step checks ``resp`` against
the model (answered in step c + 2 with the word's old value; a write, or a CAS whose old
value is ``expected``, performed then); at the end the counters. Configured by
$SHOOTDOWN_LOCKSTEP: ``seed``, ``cycles``, ``base``, ``size``."""
import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from hdl.ports import MemRequest
from hdl.step_memory import COUNTER_BITS
from sw_model.codec import Codec

REQUEST = Codec(MemRequest)
COUNTERS = ("reads", "writes", "cas", "cas_failed")


class Model:
    """The memory as the golden model's memory port performs it: a sparse memory of the
    window (outside it reads are zero and writes dropped), and its counters."""

    def __init__(self, base, size):
        self.base, self.size = base, size
        self.words, self.counts = {}, dict.fromkeys(COUNTERS, 0)

    def perform(self, req):
        """The old value ``req`` answers with, after performing it."""
        inside = self.base <= req["addr"] < self.base + self.size
        old = self.words.get(req["addr"], 0)
        if req["cas"]:
            self.counts["cas"] += 1
            if old != req["expected"]:
                self.counts["cas_failed"] += 1
            elif inside:
                self.words[req["addr"]] = req["desired"]
        elif req["write"]:
            self.counts["writes"] += 1
            if inside:
                self.words[req["addr"]] = req["desired"]
        else:
            self.counts["reads"] += 1
        return old

    def clear(self):
        self.words, self.counts = {}, dict.fromkeys(COUNTERS, 0)


def random_request(rng, model):
    words = model.size // 8
    addr = model.base + 8 * rng.randrange(-1, words + 1)        # sometimes just outside
    kind = rng.choice(("read", "write", "cas"))
    old = model.words.get(addr, 0)
    return dict(addr=addr, write=int(kind == "write"), cas=int(kind == "cas"),
                expected=old if rng.random() < 0.5 else rng.getrandbits(64),
                desired=rng.getrandbits(64))


async def finish_clear(dut):
    """After the cycle with ``clear`` high: wait, not stepping, until ``clearing`` ends."""
    dut.step.value, dut.clear.value, dut.req__valid.value = 0, 0, 0
    await ReadOnly()
    while int(dut.clearing.value):
        await RisingEdge(dut.clk)
        await ReadOnly()
    await RisingEdge(dut.clk)


@cocotb.test()
async def step_memory(dut):
    cfg = json.loads(os.environ["SHOOTDOWN_LOCKSTEP"])
    rng = random.Random(cfg["seed"])
    model = Model(cfg["base"], cfg["size"])
    Clock(dut.clk, 10, unit="ns", impl="gpi").start()
    dut.rst.value, dut.step.value, dut.clear.value, dut.req__valid.value = 1, 0, 0, 0
    await RisingEdge(dut.clk)
    dut.rst.value, dut.clear.value = 0, 1       # the SPRAM's words start undefined
    await RisingEdge(dut.clk)
    await finish_clear(dut)
    # ``flight``: [steps until answered, request, whether a cycle without a step has
    # come between its steps c + 1 and c + 2].
    flight, errors = None, []
    stats = dict(requests=0, gaps=0, clears=0, back_to_back=0)
    for cycle in range(cfg["cycles"]):
        step = rng.random() < 0.6
        due = flight is not None and flight[0] == 0
        clear = step and (flight is None or due) and rng.random() < 0.003
        offer = step and not clear and (flight is None or due) and rng.random() < 0.7
        req = random_request(rng, model) if offer or not step else None
        dut.step.value, dut.clear.value = int(step), int(clear)
        dut.req__valid.value = int(req is not None and (offer or rng.random() < 0.5))
        if req is not None:
            dut.req__payload.value = REQUEST.pack(**req)
        await ReadOnly()
        if step:
            valid = int(dut.resp__valid.value)
            if due:
                want = model.perform(flight[1])
                got = int(dut.resp__payload.value) if valid else None
                if got != want:
                    errors.append(f"cycle {cycle}: {flight[1]} answered {got}, not {want}")
                stats["gaps"] += flight[2]
                flight = None
            elif valid:
                errors.append(f"cycle {cycle}: an answer with no request due")
            if flight is not None:
                flight[0] -= 1
            if offer:
                stats["requests"] += 1
                stats["back_to_back"] += due
                flight = [1, req, False]
        elif flight is not None and flight[0] == 0:
            flight[2] = True
        await RisingEdge(dut.clk)
        if clear:
            stats["clears"] += 1
            model.clear()
            await finish_clear(dut)
    await ReadOnly()                        # the last step's counts
    counters = {name: int(getattr(dut, name).value) for name in COUNTERS}
    mask = (1 << COUNTER_BITS) - 1
    if counters != {name: n & mask for name, n in model.counts.items()}:
        errors.append(f"counters {counters}, the model's {model.counts}")
    with open(cfg["result"], "w") as f:
        json.dump(dict(errors=errors[:10], **stats), f)

"""Lockstep of the whole system (CPU MMUs, device TLBs, fabric, arbiter, host port) in
Amaranth's simulator against ``SystemRef``, every output every cycle, under the seeded
multi-agent stimulus of ``sim.system_stimulus``."""
from hdl.system import System
from sim.pysim import run_testbench
from sim.stimulus import ASIDS
from sim.system_stimulus import SystemEnvironment
from sw_model.system_ref import SystemRef


def run_system_lockstep(seed, cycles, *, cpus=2, devices=1, tlb_entries=4, faults=(),
                        options=None, ref_options=None, asids=ASIDS, first_gen=1):
    """Returns (first divergence or None, environment stats). ``options``: more System
    parameters, for the model too unless ``ref_options`` gives the model its own;
    ``asids``: the stimulus's address spaces; ``first_gen``: its first generation."""
    options = options or {}
    dut = System(cpus=cpus, devices=devices, tlb_entries=tlb_entries, faults=faults,
                 **options)
    ref = SystemRef(cpus=cpus, devices=devices, tlb_entries=tlb_entries,
                    **(options if ref_options is None else ref_options))
    env = SystemEnvironment(seed, cpus, devices, asids, first_gen)
    outcome = {"divergence": None}

    def rtl_outputs(ctx):
        def port(req, resp):
            valid = ctx.get(resp.valid)
            return (ctx.get(req.ready), ctx.get(resp.payload.as_value()) if valid else None)
        host_valid = ctx.get(dut.host_mem_resp.valid)
        mem_valid = ctx.get(dut.mem_req.valid)
        return ([port(dut.cpu_req[c], dut.cpu_resp[c]) for c in range(cpus)],
                [port(dut.dev_req[d], dut.dev_resp[d]) for d in range(devices)],
                sum(ctx.get(dut.src[i].ready) << i for i in range(1 + cpus)),
                ctx.get(dut.done), ctx.get(dut.host_mem.ready),
                ctx.get(dut.host_mem_resp.payload.as_value()) if host_valid else None,
                ctx.get(dut.mem_req.payload.as_value()) if mem_valid else None,
                ctx.get(dut.completed_gen))

    access_ports = ([dut.cpu_req[c] for c in range(cpus)]
                    + [dut.dev_req[d] for d in range(devices)])

    async def bench(ctx):
        for cycle in range(cycles):
            expected, actual = ref.outputs(), rtl_outputs(ctx)
            if expected != actual:
                outcome["divergence"] = dict(cycle=cycle, expected=expected, actual=actual)
                return
            inp = env.step(expected)
            for port, payload in zip(access_ports, env.req_payload):
                ctx.set(port.valid, payload is not None)
                ctx.set(port.payload.as_value(), payload or 0)
            for i in range(1 + cpus):
                ctx.set(dut.src[i].valid, inp.src_valid >> i & 1)
                ctx.set(dut.src[i].payload.as_value(), inp.src_payload[i])
            ctx.set(dut.irq_enable, inp.irq_enable)
            ctx.set(dut.host_mem.valid, inp.host_mem_valid)
            ctx.set(dut.host_mem.payload.as_value(), inp.host_mem)
            ctx.set(dut.mem_req.ready, inp.mem_req_ready)
            ctx.set(dut.mem_resp.valid, inp.mem_resp_valid)
            ctx.set(dut.mem_resp.payload.as_value(), inp.mem_resp)
            ref.tick(inp)
            await ctx.tick()

    run_testbench(dut, bench)
    return outcome["divergence"], env.stats

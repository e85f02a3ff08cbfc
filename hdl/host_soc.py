"""The board's system on chip: the multi-core MMU system (``hdl/system.py``), its block
RAM (``hdl/step_memory.py``), a UART and the host bridge that drives the system from
framed commands (``hdl/host_bridge.py``, docs/host-protocol.md).

The system and its memory are clocked only when the bridge steps them (a clock enable
on their domain), so a command runs exactly the system cycles the golden model runs for
the same call; the UART and the bridge run on every clock.
"""
from amaranth.hdl import EnableInserter, Module, ResetInserter
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, connect

from .host_bridge import HostBridge, check_bridge_params
from .step_memory import StepMemory, check_spram, check_window
from .system import System
from .uart import UARTReceiver, UARTTransmitter, uart_divisor

#: Where the kernel model's page allocator puts its frames (sw_model/kernel/kernel.py).
DEFAULT_MEM_BASE = 0x10_0000
#: 64 frames of 4 KB: the kernel model's default pool.
DEFAULT_MEM_BYTES = 256 * 1024
#: Watchdog of a command's wait, in system cycles.
DEFAULT_WATCHDOG = 1 << 20


class HostSoC(wiring.Component):
    """Ports: ``uart_rx`` (from the host; idle high), ``uart_tx`` (to the host), and
    ``busy`` (high while a frame is received, run or answered: an activity LED).

    ``cpus``, ``devices``, ``tlb_entries`` and ``system_options`` (``pa_bits``, ``ha``,
    ``hd``, ``tlbi_range``, ``asid_bits``, ``gen_bits``, ``staged``) build the System;
    ``mem_bytes`` (a power of two) of block RAM, or with ``spram`` of the iCE40UP5K's
    SPRAM (up to 128 KB), hold the words at [``mem_base``, ``mem_base + mem_bytes``);
    ``clk_freq`` and ``baud`` set the UART (within 2%); ``frame_timeout`` is how many
    clock cycles a frame may pause between bytes (default a tenth of a second);
    ``watchdog``: system cycles a command may wait.
    """

    uart_rx: In(1, init=1)
    uart_tx: Out(1, init=1)
    busy: Out(1)

    def __init__(self, *, cpus=4, devices=1, tlb_entries=16, mem_bytes=DEFAULT_MEM_BYTES,
                 mem_base=DEFAULT_MEM_BASE, clk_freq, baud=115200, frame_timeout=None,
                 watchdog=DEFAULT_WATCHDOG, spram=False, **system_options):
        self.divisor = uart_divisor(clk_freq, baud)
        if frame_timeout is None:
            frame_timeout = int(clk_freq) // 10
        check_bridge_params(frame_timeout, watchdog)      # before building anything
        check_window(mem_base, mem_bytes, system_options.get("pa_bits", 40))
        check_spram(spram, mem_bytes)
        self.system = System(cpus=cpus, devices=devices, tlb_entries=tlb_entries,
                             **system_options)
        mmu = self.system.cpu_mmus[0]
        walker = mmu.walker
        pa_bits = walker.pa_bits
        self.memory = StepMemory(base=mem_base, size=mem_bytes, pa_bits=pa_bits,
                                 spram=spram)
        self.bridge = HostBridge(cpus=cpus, devices=devices, tlb_entries=tlb_entries,
                                 pa_bits=pa_bits, memory=(mem_base, mem_bytes),
                                 frame_timeout=frame_timeout, watchdog=watchdog,
                                 ha=walker.ha, hd=walker.hd, tlbi_range=mmu.tlbi_range,
                                 asid_bits=mmu.tlb.asid_bits, staged=mmu.staged,
                                 gen_bits=self.system.fabric.gen_bits)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        system, memory, bridge = self.system, self.memory, self.bridge
        m.submodules.rx = rx = UARTReceiver(self.divisor)
        m.submodules.tx = tx = UARTTransmitter(self.divisor)
        m.submodules.bridge = bridge
        m.submodules.memory = memory
        m.submodules.system = ResetInserter(bridge.reset)(EnableInserter(bridge.step)(system))

        m.d.comb += [rx.rx.eq(self.uart_rx), self.uart_tx.eq(tx.tx), self.busy.eq(bridge.busy),
                     bridge.rx_error.eq(rx.framing_error)]
        connect(m, rx.bytes, bridge.rx)
        connect(m, bridge.tx, tx.bytes)

        connect(m, system.mem_req, memory.req)
        connect(m, memory.resp, system.mem_resp)
        m.d.comb += [memory.step.eq(bridge.step), memory.clear.eq(bridge.mem_clear),
                     bridge.mem_clearing.eq(memory.clearing),
                     bridge.sd_wait.eq(system.fabric.sd_wait)]
        for i, counter in enumerate((memory.reads, memory.writes, memory.cas,
                                     memory.cas_failed)):
            m.d.comb += bridge.mem_counters[i].eq(counter)

        connect(m, bridge.host_mem, system.host_mem)
        connect(m, system.host_mem_resp, bridge.host_mem_resp)
        for i in range(1 + system.cpus):
            connect(m, bridge.src[i], system.src[i])
        for c in range(system.cpus):
            connect(m, bridge.cpu_req[c], system.cpu_req[c])
            connect(m, system.cpu_resp[c], bridge.cpu_resp[c])
        for d in range(system.devices):
            connect(m, bridge.dev_req[d], system.dev_req[d])
            connect(m, system.dev_resp[d], bridge.dev_resp[d])
        m.d.comb += [system.irq_enable.eq(bridge.irq_enable),
                     bridge.completed_gen.eq(system.completed_gen)]
        return m

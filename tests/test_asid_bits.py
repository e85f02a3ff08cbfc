"""A system with 8-bit ASIDs (``asid_bits=8``, as ID_AA64MMFR0_EL1.ASIDBits allows; the
small iCE40 build): the TLBs match the low 8 bits of an ASID and ignore the rest, as
TCR_EL1.AS=0 does, in the RTL as in the model; the golden backend refuses an ASID that
does not fit."""
import pytest

from hdl.system import System
from hdl.tlb import TLB
from sw_model.golden_backend import GoldenBackend
from sw_model.platform import Invalidate
from sw_model.tlb_ref import Entry, TLBRef
from hdl.ports import InvalidateOp
from system_bench import run_system_lockstep

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

#: Address spaces whose ASIDs alias in 8 bits (0x101 and 1, 0x102 and 2).
ALIASING = (1, 2, 0x101, 0x102)


def test_eight_bit_asids_alias_in_the_model():
    tlb = TLBRef(4, asid_bits=8)
    tlb.tick(fill=Entry(vpn=5, asid=0x101, ng=1, size=0, ppn=9, ap1=1, ap2=0, uxn=0,
                        pxn=0, dbm=0))
    assert tlb.lookup(5, 1) == 0 and TLBRef(4).lookup(5, 1) is None


def test_system_with_eight_bit_asids_matches_model():
    seed = 17
    print(f"seed {seed}")
    divergence, stats = run_system_lockstep(seed, 3000, cpus=1, devices=0, asids=ALIASING,
                                            options=dict(asid_bits=8))
    assert divergence is None, divergence
    assert stats["accesses"] > 30 and stats["invalidates"] > 20


def test_system_diff_catches_an_asid_bits_mismatch():
    divergence, _ = run_system_lockstep(17, 3000, cpus=1, devices=0, asids=ALIASING,
                                        options=dict(asid_bits=8), ref_options={})
    assert divergence is not None


@pytest.mark.parametrize("cls", [TLB, TLBRef])
def test_asid_bits_must_be_8_or_16(cls):
    with pytest.raises(ValueError, match="asid_bits must be 8 or 16, not 12"):
        cls(4, asid_bits=12)


def test_system_rejects_bad_asid_bits():
    with pytest.raises(ValueError, match="asid_bits must be 8 or 16"):
        System(cpus=1, devices=0, asid_bits=True)


def test_golden_backend_refuses_an_asid_wider_than_the_tlbs():
    backend = GoldenBackend(cpus=1, devices=0, tlb_entries=4, asid_bits=8)
    with pytest.raises(ValueError, match="ASID 0x100 does not fit in this system's 8-bit"):
        backend.tlbi(("cpu", 0), Invalidate(InvalidateOp.ASIDE1, asid=0x100))
    with pytest.raises(ValueError, match="ASID 0x1ff does not fit"):
        backend.access(("cpu", 0), 0x1000, 0x1ff << 48)
    backend.tlbi(("cpu", 0), Invalidate(InvalidateOp.ASIDE1, asid=0xff))

"""A fabric that keeps fewer generation bits (``gen_bits``, the small iCE40 build): the
ports stay 32 bits wide, the bits above ``gen_bits`` are ignored, in the RTL as in the
model, and the golden backend refuses a generation that does not fit."""
import pytest

from hdl.fabric import InvalidateFabric
from hdl.system import System
from sw_model.fabric_ref import FabricRef
from sw_model.golden_backend import GoldenBackend
from sw_model.platform import Invalidate
from hdl.ports import InvalidateOp
from system_bench import run_system_lockstep

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")


@pytest.mark.parametrize("first_gen", [1, 250])
def test_system_with_eight_bit_generations_matches_model(first_gen):
    """From 250 the generations pass 255, so the ignored bits are exercised too."""
    seed = 18
    print(f"seed {seed}")
    divergence, stats = run_system_lockstep(seed, 3000, cpus=1, devices=0,
                                            first_gen=first_gen, options=dict(gen_bits=8))
    assert divergence is None, divergence
    assert stats["invalidates"] > 20 and stats["shootdowns"] > 2


def test_system_diff_catches_a_gen_bits_mismatch():
    divergence, _ = run_system_lockstep(18, 3000, cpus=1, devices=0, first_gen=250,
                                        options=dict(gen_bits=8), ref_options={})
    assert divergence is not None


@pytest.mark.parametrize("cls", [InvalidateFabric, FabricRef, System])
@pytest.mark.parametrize("bad", [7, 33, True])
def test_gen_bits_from_8_to_32(cls, bad):
    with pytest.raises(ValueError, match=f"gen_bits must be an integer from 8 to 32, "
                                         f"not {bad!r}"):
        cls(cpus=1, devices=0, gen_bits=bad)


def test_golden_backend_refuses_a_generation_wider_than_the_fabric():
    backend = GoldenBackend(cpus=1, devices=0, tlb_entries=4, gen_bits=8)
    with pytest.raises(ValueError, match="generation 256 does not fit in 8 bits"):
        backend.tlbi(("cpu", 0), Invalidate(InvalidateOp.VMALLE1), gen=256)
    backend.tlbi(("cpu", 0), Invalidate(InvalidateOp.VMALLE1), gen=255)
    backend.dsb(("cpu", 0))
    backend.idle(4)
    assert backend.completed_gen() == 255

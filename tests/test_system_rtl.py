"""The multi-core system RTL against its model on Verilator and Icarus, through cocotb,
every output every cycle; and proof that this diff can fail."""
from sim.cli import main
from sim.lockstep import describe
from sim.system_lockstep import run_system_model, run_system_rtl

SMALL = dict(cpus=2, devices=1, tlb_entries=4)


def test_system_lockstep(sim, build_root):
    seed = 20261122
    print(f"replay: shootdown diff --sim {sim} --cpus 2 --devices 1 --tlb-entries 4 "
          f"--seed {seed} --cycles 8000")
    result = run_system_rtl(sim, cycles=8000, seed=seed, system=SMALL, build_root=build_root)
    print("\n".join(describe(result)), result.stats)
    assert result.status == "ok", "\n".join(describe(result))
    stats = result.stats
    assert stats["accesses"] > 50 and stats["invalidates"] > 50 and stats["shootdowns"] > 5
    assert stats["host_writes"] > 50 and stats["syncs"] > 20


def test_small_system_lockstep(sim, build_root):
    """The iCE40UP5K configuration: no range invalidates, 8-bit ASIDs (aliasing ones in
    the stimulus), 8 generation bits (the stimulus's generations pass 255)."""
    seed = 20261123
    small = dict(cpus=1, devices=0, tlb_entries=8, tlbi_range=False, asid_bits=8,
                 gen_bits=8)
    print(f"seed {seed}")
    result = run_system_rtl(sim, cycles=6000, seed=seed, system=small, build_root=build_root,
                            stimulus=dict(asids=[1, 2, 0x101, 0x102], first_gen=250))
    print("\n".join(describe(result)), result.stats)
    assert result.status == "ok", "\n".join(describe(result))
    assert result.stats["invalidates"] > 30 and result.stats["accesses"] > 100


def test_system_diff_reports_a_broken_model(build_root):
    result = run_system_rtl("verilator", cycles=8000, seed=3, system=SMALL,
                            bugs=["stale_walk_installs"], build_root=build_root)
    print("\n".join(describe(result)))
    assert result.status == "diverged"
    assert result.divergence["signals"]


def test_cli_system_diff(build_root, capsys):
    assert main(["diff", "--cpus", "2", "--devices", "1", "--tlb-entries", "4",
                 "--cycles", "2000", "--build-dir", str(build_root)]) == 0
    out = capsys.readouterr().out
    assert "no divergence in 2000 cycles" in out and "shootdowns" in out


def test_system_plain_bench_and_model_alone_run(build_root):
    plain = run_system_rtl("verilator", cycles=3000, seed=5, mode="plain", system=SMALL,
                           build_root=build_root)
    model = run_system_model(cycles=3000, seed=5, system=SMALL)
    assert plain.status == model.status == "ok"
    # Same seed, same stimulus, whichever side computed the outputs it reacted to.
    assert plain.stats == model.stats

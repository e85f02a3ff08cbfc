"""The litmus front end, the A64 thread model, the catalogue's TLBI tests on the golden
backend (no Forbidden outcome), a fabric fault that makes one appear, the CLI, and a
small subset on the RTL."""

import pytest

from sim.cli import main
from sim.litmus_run import (CATALOGUE, SKIPPED, collect, golden_factory, run_on_rtl,
                            run_test, run_tests)
from sw_model.litmus.condition import FaultAtom, PteVal, Sym
from sw_model.litmus.errors import LitmusError, Unsupported
from sw_model.litmus.execution import Prepared
from sw_model.litmus.kinds import Kinds, Verdict, read_kinds
from sw_model.litmus.outcomes import explore
from sw_model.litmus.parse import parse_file, parse_text
from sw_model.litmus.verdict import FAIL, PASS, holds, judge

#: Small tests in two systems: two threads (an SWP on a descriptor, an Allowed outcome
#: observed, a shootdown) and one thread with hardware AF and dirty updates.
RTL_SUBSET = ("LDRx-ctrl-TLBI-STRptex+SWP", "ExtTLBIAfter", "MP+dmb.st+ctrl-isb-tlbi-dsb-isb",
              "STR-TLBI")


def _catalogue(name):
    return CATALOGUE / f"{name}.litmus"


def _run(text, name="T", faults=()):
    """Parse, prepare and explore a test given as text; (prepared, exploration)."""
    prepared = Prepared(parse_text(text, name))
    return prepared, explore(prepared, golden_factory(faults)(prepared))


# The front end.
def test_parses_a_catalogue_test():
    test = parse_file(_catalogue("Artem2+TLBIx-HDy+dsb.ish"))
    assert test.name == "Artem2+TLBIx-HDy+dsb.ish"
    assert test.headers["tthm"] == "P1:HD"
    assert (("mem", Sym("pte", "y")), PteVal(Sym("phy", "y"), db=0, dbm=1)) in test.init
    assert (("reg", 0, "X2"), PteVal(Sym("phy", "x"), valid=0)) in test.init
    assert len(test.threads) == 2
    assert test.threads[1][-1] == ("L1", "LDR W4,[X3]")
    assert test.quantifier == "exists"
    assert FaultAtom(1, "L1", "x", None) in list(test.condition.atoms())


def test_every_shipped_test_parses_or_names_its_construct():
    readable = 0
    for path, _ in collect([CATALOGUE]):
        try:
            parse_file(path)
            readable += 1
        except LitmusError as e:
            assert e.test and e.construct
    assert readable >= 260


@pytest.mark.parametrize("text, construct", [
    ("AArch64 T\n{\n}\n P0 ;\n MOV X0,#1 ;\n", "no final condition"),
    ("AArch64 T\nColour=blue\n{\n}\n P0 ;\n NOP ;\nexists(0:X0=1)\n", "unknown header"),
    ("AArch64 T\n{\n0:X1=(oa:phy_x, colour:1);\n}\n P0 ;\n NOP ;\nexists(0:X0=1)\n",
     "descriptor field colour:1"),
    ("AArch64 T\n{\n}\n P0 ;\n NOP ;\nexists(0:X0=1 /\\ ?)\n", "condition syntax"),
    ("AArch64 T\n{\n}\n P0 ;\n NOP ;\nexists(3:X0=1)\n", "thread P3"),
    ("AArch64 T\n{\n}\n P0 | Q ;\n NOP | NOP ;\nexists(0:X0=1)\n", "column header 'Q'"),
    ("x86 T\n{\n}\n", "is not 'AArch64 NAME'"),
])
def test_bad_input_names_the_test_and_construct(text, construct):
    with pytest.raises(LitmusError) as e:
        Prepared(parse_text(text))
    assert str(e.value).startswith("T: ") or "AArch64" in str(e.value)
    assert construct in str(e.value)


@pytest.mark.parametrize("code, reason", [
    ("TLBI IPAS2E1IS,X0", "TLBI IPAS2E1IS"),
    ("MSR ELR_EL1,X0", "unsupported instruction MSR"),
])
def test_what_the_model_cannot_express_is_unsupported(code, reason):
    with pytest.raises(Unsupported) as e:
        Prepared(parse_text(f"AArch64 T\n{{\n}}\n P0 ;\n {code} ;\nexists(0:X0=1)\n"))
    assert reason in e.value.reason


def test_kinds_files(tmp_path):
    (tmp_path / "kinds.txt").write_text("# a comment\nA Allowed\nB Forbid # why\nCRequired\n")
    assert read_kinds(tmp_path / "kinds.txt") == {"A": "Allowed", "B": "Forbidden",
                                                  "C": "Required"}
    (tmp_path / "VMSA-ETS2-kinds.txt").write_text("A Forbidden\n")
    verdict = Kinds(tmp_path).verdict("A")
    assert (verdict.base, verdict.ets2) == ("Allowed", "Forbidden")
    (tmp_path / "kinds.txt").write_text("A Allowed extra\n")
    with pytest.raises(LitmusError, match="kinds.txt: line 1"):
        read_kinds(tmp_path / "kinds.txt")


# The thread model.
def test_local_instructions():
    _, found = _run("""AArch64 T
{ 0:X1=12; }
 P0                 ;
 MOV X2,#5          ;
 ADD X3,X1,X2       ;
 SUB X4,X1,#2       ;
 AND X5,X1,#4       ;
 BIC X6,X1,X5       ;
 LSR X7,X1,#2       ;
 CMP X1,#12         ;
 CSET X8,EQ         ;
 CSEL X9,X2,X1,NE   ;
 CBZ X5,skip        ;
 MOV X10,#1         ;
skip:               ;
 CMP X2,#6          ;
 B.LT over          ;
 MOV X11,#1         ;
over:               ;
 CBNZ X11,end       ;
 MOV X12,#7         ;
end:                ;
exists(0:X3=17 /\\ 0:X4=10 /\\ 0:X5=4 /\\ 0:X6=8 /\\ 0:X7=3 /\\ 0:X8=1 /\\ 0:X9=12
       /\\ 0:X10=1 /\\ 0:X11=0 /\\ 0:X12=7)
""")
    assert found.complete and len(found.outcomes) == 1
    (state,) = found.outcomes
    assert [v for _, v in state.values] == [17, 10, 4, 8, 3, 1, 12, 1, 0, 7]


def test_loads_stores_and_atomics_on_descriptors():
    text = """AArch64 T
{
0:X1=pte_x; 0:X2=(oa:phy_y); 0:X3=(oa:phy_x); 0:X4=x; 0:X6=(oa:phy_z);
y=5; z=9;
}
 P0             ;
 LDR W0,[X4]    ;
 CASAL X3,X2,[X1] ;
 DSB ISH        ;
 LSR X9,X4,#12  ;
 TLBI VAAE1IS,X9 ;
 DSB ISH        ;
 LDR W5,[X4]    ;
 SWP X6,X7,[X1] ;
 DSB ISH        ;
 TLBI VMALLE1IS ;
 DSB ISH        ;
 LDR W8,[X4]    ;
 MOV W10,#3     ;
 STR W10,[X4]   ;
exists(0:X0=0 /\\ 0:X3=(oa:phy_x) /\\ 0:X5=5 /\\ 0:X7=(oa:phy_y) /\\ 0:X8=9 /\\ z=3
       /\\ pte_x=(oa:phy_z))
"""
    prepared, found = _run(text)
    assert found.complete
    for state in found.outcomes:
        assert state.faults == frozenset()
    assert judge(prepared, found, Verdict("Required", None)).status == PASS


def test_a_fault_is_recorded_and_ends_the_thread():
    text = """AArch64 T
{ pte_x=(valid:0); pte_y=(af:0); pte_z=(db:0); 0:X1=x; 0:X2=y; 0:X3=z; 0:X5=7; }
 P0             ;
L0: LDR W4,[X1] ;
 MOV X6,#1      ;
exists(fault(P0:L0,x,MMU:Translation) /\\ 0:X6=0)
"""
    prepared, found = _run(text)
    (state,) = found.outcomes
    assert state.faults == {(0, "L0", "x", "TRANSLATION")}
    assert _holds(state, prepared)
    for access, kind in (("LDR W4,[X2]", "ACCESS_FLAG"), ("STR W5,[X3]", "PERMISSION")):
        _, found = _run(text.replace("LDR W4,[X1]", access))
        (state,) = found.outcomes
        assert {f[3] for f in state.faults} == {kind}


def test_hardware_management_sets_af_and_dirty():
    text = """AArch64 T
TTHM=HD
{ pte_x=(af:0,db:0,dbm:1); 0:X1=x; 0:X2=1; }
 P0          ;
 STR W2,[X1] ;
exists(pte_x=(oa:phy_x,af:1,db:1,dbm:1) /\\ x=1)
"""
    prepared, found = _run(text)
    (state,) = found.outcomes
    assert not state.faults
    assert _holds(state, prepared)
    _, found = _run(text.replace("TTHM=HD\n", ""))
    (state,) = found.outcomes
    assert {f[3] for f in state.faults} == {"ACCESS_FLAG"}


def _holds(state, prepared):
    return holds(prepared, state)


# The catalogue on the golden backend.
def test_tlbi_catalogue_on_golden_has_no_forbidden_outcome():
    """Every shipped test, each explored up to 150 executions (the full exploration is
    `shootdown litmus`; docs/conformance.md): none fails, and at least 60 Forbidden or
    Required tests are explored completely."""
    results = run_tests(collect([CATALOGUE]), golden_factory(), max_executions=150)
    assert [r.name for r in results if r.status == FAIL] == []
    complete = [r for r in results if r.status == PASS and r.complete]
    assert len(complete) >= 60
    assert len([r for r in results if r.status != SKIPPED]) >= 200


def test_a_fabric_fault_shows_a_forbidden_outcome():
    kinds = Kinds(CATALOGUE)
    path = _catalogue("MP+shoot+dsb")
    assert run_test(path, kinds, golden_factory()).status == PASS
    broken = run_test(path, kinds, golden_factory(["skip_target"]))
    assert broken.status == FAIL and broken.verdict == "Forbidden"
    assert any(holds for _, _, holds in broken.outcomes)


# The command.
def test_cli_litmus(tmp_path, capsys):
    paths = [str(_catalogue(n)) for n in ("MP+shoot+dsb", "TA2")]
    out = tmp_path / "out.json"
    assert main(["litmus", *paths, "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "MP+shoot+DSB: pass (Forbidden" in text
    assert "Forbidden observed: 0 (must be 0)" in text
    assert '"status": "pass"' in out.read_text()
    assert main(["litmus", *paths, "--fault", "skip_target"]) == 1
    assert "Forbidden observed: 2 (must be 0)" in capsys.readouterr().out


def test_cli_litmus_reports_skips(capsys):
    assert main(["litmus", str(CATALOGUE), "--max-executions", "1"]) == 0
    text = capsys.readouterr().out
    assert "skipped because:" in text and "no verdict in the kinds files" in text


@pytest.mark.parametrize("argv, message", [
    (["litmus", "/no/such.litmus"], "no such file or directory"),
    (["litmus", "--fault", "melt"], "unknown fault 'melt'"),
    (["litmus", "--sim", "icarus"], "--sim is for --backend rtl"),
    (["litmus", "--max-executions", "0"], "must be positive"),
])
def test_cli_litmus_bad_arguments(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_litmus_unreadable_file(tmp_path, capsys):
    bad = tmp_path / "bad.litmus"
    bad.write_text("AArch64 bad\n{\n}\n P0 ;\n NOP ;\nexists(0:X0=?)\n")
    assert main(["litmus", str(bad)]) == 2
    assert "bad: symbol '?'" in capsys.readouterr().err


# The RTL.
def test_rtl_subset_agrees_with_golden(sim, build_root):
    files = [(_catalogue(n), True) for n in RTL_SUBSET]
    on_rtl = run_on_rtl(files, sim, build_root)
    on_golden = run_tests(files, golden_factory())
    for rtl, golden in zip(on_rtl, on_golden):
        assert rtl.status == golden.status != FAIL, (rtl.name, rtl.reason)
        assert sorted(map(tuple, rtl.outcomes)) == sorted(map(tuple, golden.outcomes))


def test_rtl_with_a_fabric_fault_shows_the_forbidden_outcome(sim, build_root):
    """The RTL built with skip_target, the model broken alike: no divergence, and the
    test's Forbidden outcome on the RTL."""
    files = [(_catalogue("V2I-W-DSB.ISH-TLBI-DSB.ISH-ISB-W"), True)]
    (result,) = run_on_rtl(files, sim, build_root, faults=["skip_target"])
    assert result.status == FAIL and result.reason is None
    assert any(holds for _, _, holds in result.outcomes)

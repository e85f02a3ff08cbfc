"""Generated Verilog is reused while its parameters and the design's sources are
unchanged (sim/build.py cached_verilog); the simulator build is keyed by that text."""
import sim.build
from sim.build import cached_verilog


def test_verilog_is_converted_once_per_parameters_and_sources(tmp_path, monkeypatch):
    conversions = []

    def convert():
        conversions.append(1)
        return f"// conversion {len(conversions)}\n"

    first = cached_verilog(tmp_path, "top", {"cpus": 2}, convert)
    assert cached_verilog(tmp_path, "top", {"cpus": 2}, convert) == first
    assert len(conversions) == 1                       # a second run does not convert
    cached_verilog(tmp_path, "top", {"cpus": 4}, convert)
    assert len(conversions) == 2                       # other parameters do
    monkeypatch.setattr(sim.build, "hdl_source_hash", lambda: "a changed design")
    assert cached_verilog(tmp_path, "top", {"cpus": 2}, convert) != first
    assert len(conversions) == 3                       # so does a changed source


def test_the_source_hash_covers_the_design(tmp_path, monkeypatch):
    hdl = tmp_path / "hdl"
    hdl.mkdir()
    (tmp_path / "sim").mkdir()
    for top in ("bus_top.py", "system_bus_top.py"):
        (tmp_path / "sim" / top).write_text("")
    (hdl / "tlb.py").write_text("x = 1\n")
    monkeypatch.setattr(sim.build, "REPO_ROOT", tmp_path)
    sim.build.hdl_source_hash.cache_clear()
    try:
        before = sim.build.hdl_source_hash()
        (hdl / "tlb.py").write_text("x = 2\n")
        sim.build.hdl_source_hash.cache_clear()
        assert sim.build.hdl_source_hash() != before
    finally:
        sim.build.hdl_source_hash.cache_clear()


def test_without_a_build_root_nothing_is_kept(tmp_path):
    assert cached_verilog(None, "top", {}, lambda: "v") == "v"
    assert not list(tmp_path.iterdir())

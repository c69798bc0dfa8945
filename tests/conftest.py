import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: idle OpenMP threads sleep
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
# Golden data gathered from the two reference repositories, beside the checkout (may be absent).
REFERENCE = REPO.parent / "shared" / "reference"


@pytest.fixture
def reference_dir() -> Path:
    """../shared/reference: skipped when absent, except under CI=true, where it is always there."""
    if not REFERENCE.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail("../shared/reference is absent, but CI=true always has it beside the checkout")
        pytest.skip("../shared/reference is absent")
    return REFERENCE


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run as fast on one thread, and one thread does not slow down 10-100x when other processes
    share the cores (OpenMP's spinning worker threads do)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

"""Device choice: `auto` takes CUDA, then Apple's MPS, then the CPU; an explicit device that is absent is an error."""
import pytest
import torch

from caef_lib.environment import device_report, resolve_device


@pytest.mark.parametrize("cuda, mps, expected", [
    (True, True, "cuda"),
    (True, False, "cuda"),
    (False, True, "mps"),
    (False, False, "cpu"),
])
def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert resolve_device("auto") == expected
    assert resolve_device("cpu") == "cpu"


def test_an_absent_device_asked_for_by_name_is_an_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="device='mps' was asked for"):
        resolve_device("mps")
    with pytest.raises(RuntimeError, match="device='cuda' was asked for"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("mps") == "mps"
    report = device_report("auto")
    assert report["device"] == "mps" and report["mps_available"] is True and report["gpus"] == []

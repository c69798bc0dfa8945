"""The parameters of every notebook, one dataclass each.

The defaults here are the notebooks' standalone defaults (what `papermill notebooks/NN_x.ipynb out.ipynb`
uses); profiles in `profiles/*.yaml` override them. Every class starts with the common fields.
"""
from __future__ import annotations

from dataclasses import dataclass

from .params import param

DEVICES = ("auto", "cpu", "cuda")


@dataclass
class Common:
    profile: str = param("default", help="results, data and figures go under <root>/{results,data,figures}/<profile>")
    output_root: str = param("", help="folder that receives data/, results/, figures/ ('' = the repository)")
    seed: int = param(0, min=0, help="seed of every random choice; the same seed gives byte-identical data")
    device: str = param("auto", choices=DEVICES, help="auto = CUDA when present, else CPU")


@dataclass
class EnvironmentParams(Common):
    check_models: list[str] = param([], help="local model folders whose presence is reported "
                                             "(the runner adds every model path the profile configures)")


NOTEBOOK_PARAMS: dict[str, type] = {
    "00_environment": EnvironmentParams,
}

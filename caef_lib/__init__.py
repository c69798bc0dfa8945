"""CAEF study kit: shared library behind the notebooks.

Importing the package makes the Hugging Face libraries offline: the kit never downloads weights or
datasets; real base models are local directories given as parameters.
"""
import os
import warnings

for _var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# Idle OpenMP threads sleep instead of spinning (effective when caef_lib is imported before torch); spinning
# threads slow tiny models many times over when another process shares the cores (benchmarks/RESULTS.md).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Notebooks run headless under Papermill, and the runner shows their text progress bars; tqdm.auto's warning that
# the Jupyter widget library is absent (and that it falls back to text) tells the user nothing they need to act on.
warnings.filterwarnings("ignore", message="IProgress not found")

__version__ = "0.1.0"

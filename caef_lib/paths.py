"""Where things land. One `KitPaths` per (output root, profile).

    <root>/data/<profile>/...            generated datasets (git-ignored)
    <root>/data/models/<profile>/        trained models: <base>/<adapter>/ (git-ignored)
    <root>/results/<profile>/<notebook>/ tables (CSV/Parquet) + metadata.json of each notebook
    <root>/results/<profile>/report.md   the report card of the run (caef_lib.report)
    <root>/figures/<profile>/            figures, PDF and PNG
    <root>/runs/<profile>/               executed notebooks, logs and completion records of the runner
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
PROFILES_DIR = REPO_ROOT / "profiles"


@dataclass(frozen=True)
class KitPaths:
    profile: str
    root: Path = REPO_ROOT

    def __post_init__(self) -> None:
        if self.profile == "models":  # data/models/ holds every profile's trained models
            raise ValueError("'models' cannot be a profile name: data/models/ holds the trained models")

    @classmethod
    def of(cls, profile: str, output_root: str | Path | None = None) -> "KitPaths":
        root = Path(output_root).expanduser().resolve() if output_root else REPO_ROOT
        return cls(profile=profile, root=root)

    @property
    def data(self) -> Path:
        return self.root / "data" / self.profile

    @property
    def models(self) -> Path:
        return self.root / "data" / "models" / self.profile

    @property
    def figures(self) -> Path:
        return self.root / "figures" / self.profile

    @property
    def runs(self) -> Path:
        return self.root / "runs" / self.profile

    def results(self, notebook: str) -> Path:
        return self.root / "results" / self.profile / notebook

    @property
    def report(self) -> Path:
        return self.root / "results" / self.profile / "report.md"

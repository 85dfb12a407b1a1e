"""A slide's project: the one folder of results, ``<slide>.ifcell/`` next to the slide.

The layout is written down here once; the review files, the regions file, the Review
widget and the CLI's default label store find their paths through it::

    <slide>.ifcell/
      store.json            the label store: metadata,
      labels.zarr/            the label image and its display levels,
      cell_index.parquet      one row per cell (id, centroid, box, area, run)
      cells.parquet         the quantified cell table (MCMICRO columns)
      gates.yaml            the gates
      gated.parquet         the cell table with marker states and phenotypes
      predictions.parquet   a classifier's predictions for the cells
      dataset/              an exported patch data set
      models/<name>/        trained classifiers
      review/               the review journal and its files
      regions.json          named regions for comparisons
      exports/              reports and exported tables
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SUFFIX = ".ifcell"
# longest first: "a.v1.ome.tif" is the slide "a.v1"
SLIDE_EXTENSIONS = (".ome.tiff", ".ome.tif", ".ome.zarr", ".qptiff", ".tiff", ".tif", ".svs", ".zarr", ".btf")


def slide_name(slide_path: str | Path) -> str:
    """A slide's file name less its known extension (``a.v1.ome.tif`` -> ``a.v1``)."""
    name = Path(slide_path).name
    for ext in SLIDE_EXTENSIONS:
        if name.lower().endswith(ext) and len(name) > len(ext):
            return name[: -len(ext)]
    return Path(name).stem or name


def project_folder(slide_path: str | Path) -> Path:
    """The folder next to a slide where its segmentation and tables live."""
    slide_path = Path(slide_path)
    return slide_path.with_name(slide_name(slide_path) + SUFFIX)


def legacy_project_folder(slide_path: str | Path) -> Path:
    """Where versions before 0.3 put it: the name up to its first dot, which dotted names share."""
    slide_path = Path(slide_path)
    return slide_path.with_name(slide_path.name.split(".")[0] + SUFFIX)


@dataclass(frozen=True)
class Project:
    """Paths of one slide's results; nothing is read or created until asked."""

    folder: Path

    @classmethod
    def for_slide(cls, slide_path: str | Path) -> Project:
        return cls(project_folder(slide_path))

    @classmethod
    def at(cls, folder: str | Path) -> Project:
        return cls(Path(folder))

    # --- the files ---------------------------------------------------------------------
    @property
    def labels(self) -> Path:
        """The label store (its files sit in the project folder itself)."""
        return self.folder

    @property
    def cell_table(self) -> Path:
        return self.folder / "cells.parquet"

    @property
    def gates(self) -> Path:
        return self.folder / "gates.yaml"

    @property
    def gated_table(self) -> Path:
        return self.folder / "gated.parquet"

    @property
    def predictions(self) -> Path:
        return self.folder / "predictions.parquet"

    @property
    def dataset(self) -> Path:
        return self.folder / "dataset"

    @property
    def models(self) -> Path:
        return self.folder / "models"

    def model(self, name: str = "classifier") -> Path:
        return self.models / name

    @property
    def review(self) -> Path:
        return self.folder / "review"

    @property
    def has_review(self) -> bool:
        return (self.review / "initial.parquet").is_file()

    def made_from_cells(self) -> list[str]:
        """The files here made from the label store's cells (they name cells by id), by name."""
        files = {"cell table": self.cell_table, "gated table": self.gated_table, "predictions": self.predictions}
        return [name for name, path in files.items() if path.exists()] + (["review"] if self.has_review else [])

    @property
    def regions(self) -> Path:
        return self.folder / "regions.json"

    @property
    def exports(self) -> Path:
        return self.folder / "exports"

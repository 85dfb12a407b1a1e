"""A slide's project: the one folder of results, ``<slide>.ifcell/`` next to the slide.

Every front end (CLI commands, ``run``, the widgets) finds a slide's files through this
object, so the layout is written down once::

    <slide>.ifcell/
      project.json          which slide the results belong to
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

import json
from dataclasses import dataclass
from pathlib import Path

from napari_ifcell.io.atomic import atomic_text

SUFFIX = ".ifcell"
PROJECT_FILE = "project.json"


def project_folder(slide_path: str | Path) -> Path:
    """The folder next to a slide where its segmentation and tables live."""
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
    def has_labels(self) -> bool:
        return (self.folder / "store.json").is_file()

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

    @property
    def regions(self) -> Path:
        return self.folder / "regions.json"

    @property
    def exports(self) -> Path:
        return self.folder / "exports"

    # --- which slide -------------------------------------------------------------------
    def slide_path(self) -> Path | None:
        """The slide these results belong to, when recorded."""
        path = self.folder / PROJECT_FILE
        if not path.is_file():
            return None
        return Path(json.loads(path.read_text(encoding="utf-8"))["slide"])

    def record_slide(self, slide_path: str | Path) -> None:
        """Write down which slide the project belongs to (once; atomic)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if not (self.folder / PROJECT_FILE).is_file():
            text = json.dumps(
                {"format": "napari-ifcell project", "version": 1, "slide": str(Path(slide_path).resolve())}
            )
            atomic_text(self.folder / PROJECT_FILE, text + "\n")

    def first_existing(self, *candidates: Path) -> Path | None:
        return next((p for p in candidates if p.is_file()), None)

    def best_table(self) -> Path | None:
        """The most processed cell table the project has: predictions, gated, quantified."""
        return self.first_existing(self.predictions, self.gated_table, self.cell_table)

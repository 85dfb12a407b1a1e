"""A cohort's slide list for ``run --slides``: a CSV with ``if_path`` and/or ``he_path`` columns
(an H&E slide alone has only ``he_path``) and an optional ``out_dir``."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple


class CohortSlide(NamedTuple):
    slide: Path  # the slide segmented: the IF, or an H&E alone
    he: Path | None  # the IF's registered H&E
    out_dir: Path
    he_alone: bool


def read_slide_list(csv_path, out_folder) -> list[CohortSlide]:
    """Every row's slides and output folder, or one error naming the CSV and the row.

    Relative paths are read from the CSV's folder, as a settings file's are, so the list works
    from wherever the command runs; a relative ``out_dir`` lies in ``out_folder`` (default
    ``out_folder/<slide name>``). Commas, semicolons and tabs all separate columns (the list is
    often saved from a spreadsheet). Every slide must exist before any work starts."""
    import pandas as pd

    from napari_ifcell.io.cell_table import csv_dialect
    from napari_ifcell.io.project import slide_name

    csv_path, out_folder = Path(csv_path), Path(out_folder)
    try:
        table = pd.read_csv(csv_path, **csv_dialect(csv_path), dtype=str, skipinitialspace=True, keep_default_na=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"{csv_path}: no such file (--slides)") from None
    except Exception as exc:
        raise ValueError(f"{csv_path}: cannot read the slide list ({exc})") from exc
    table.columns = [str(c).strip() for c in table.columns]
    if "if_path" not in table.columns and "he_path" not in table.columns:
        raise ValueError(
            f"{csv_path}: needs an if_path and/or he_path column (and optionally out_dir); "
            f"its columns are {', '.join(table.columns)}"
        )
    if table.empty:
        raise ValueError(f"{csv_path}: lists no slides (a header only)")
    here = csv_path.absolute().parent  # a link's own folder, as for a settings file
    out_folder = out_folder.absolute()
    slides, missing = [], []
    for number, row in enumerate(table.to_dict("records"), start=2):  # the header is line 1
        if_path, he_path = (_path_in(row, column, here, f"line {number}", missing) for column in ("if_path", "he_path"))
        if if_path is None and he_path is None:
            raise ValueError(f"{csv_path}: line {number} has neither if_path nor he_path")
        slide, he, alone = (if_path, he_path, False) if if_path is not None else (he_path, None, True)
        out_dir = (row.get("out_dir") or "").strip()
        out = out_folder / (out_dir or slide_name(slide))
        if out_dir and not Path(out_dir).is_absolute() and (Path(out_dir) / "run.json").is_file():
            raise ValueError(
                f"{csv_path}: line {number}: out_dir {out_dir} is now read under --out ({out}), but a run is in "
                f"{Path(out_dir).absolute()} (where earlier versions put it); give that folder as an absolute out_dir"
            )
        slides.append(CohortSlide(slide, he, out, alone))
    if missing:
        shown = "; ".join(missing[:3]) + (f"; and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise FileNotFoundError(f"{csv_path}: {len(missing)} slide(s) not found (paths read from its folder): {shown}")
    outs = [s.out_dir.resolve() for s in slides]
    if len(set(outs)) < len(outs):
        repeated = next(o for o in outs if outs.count(o) > 1)
        raise ValueError(f"{csv_path}: two slides would write into {repeated}; give each its own out_dir")
    return slides


def _path_in(row: dict, column: str, folder: Path, where: str, missing: list) -> Path | None:
    """The row's path in ``column`` (relative to ``folder``), None when empty; a path that does
    not exist is added to ``missing``."""
    value = row.get(column)
    if not isinstance(value, str) or not value.strip():
        return None
    path = Path(value.strip()).expanduser()
    path = path if path.is_absolute() else folder / path
    if not path.exists():
        missing.append(f"{where}: {column} {value.strip()} ({path})")
    return path

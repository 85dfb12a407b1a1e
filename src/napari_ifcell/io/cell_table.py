"""Cell tables on disk: Parquet, CSV/TSV (MCMICRO layout) and AnnData for scimap/squidpy."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import numpy as np
import pandas as pd

from napari_ifcell.io.atomic import atomic_write

REQUIRED_COLUMNS = ("CellID", "X_centroid", "Y_centroid")
CELL_TABLE_SUFFIXES = (".parquet", ".csv", ".tsv")
READABLE_TABLE_SUFFIXES = (*CELL_TABLE_SUFFIXES, ".h5ad")  # AnnData is read too (quantify writes it)


class CellTableError(ValueError):
    """A cell table file that cannot be used; names the file and the problem."""


def write_cell_table(table: pd.DataFrame, path: str | Path) -> Path:
    """Write atomically as Parquet (``.parquet``), CSV (``.csv``) or TSV (``.tsv``, QuPath style)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return atomic_write(path, lambda p: table.to_parquet(p, index=False))
    if suffix in (".csv", ".tsv"):
        return atomic_write(path, lambda p: table.to_csv(p, index=False, sep="," if suffix == ".csv" else "\t"))
    raise CellTableError(f"{path}: unknown table format {suffix!r}; use {', '.join(CELL_TABLE_SUFFIXES)}")


class CsvDialect(TypedDict):
    sep: str
    decimal: str
    encoding: str


def csv_dialect(path: str | Path, default_sep: str = ",") -> CsvDialect:
    """``pandas.read_csv``'s ``sep``, ``decimal`` and ``encoding`` for a text table as tools and
    spreadsheets save it: columns separated by the header's most frequent of comma, semicolon
    and tab outside quotes (``default_sep`` when it has none of them); decimal commas (as a
    European-locale spreadsheet writes them) when the first rows have numbers such as ``3,5``
    and none such as ``3.5``; a leading BOM dropped."""
    import re

    with open(path, encoding="utf-8-sig", errors="replace") as file:
        header, _, rows = file.read(1 << 16).partition("\n")
    header = re.sub(r'"[^"]*"', "", header)  # a quoted name may hold any separator
    sep = max((default_sep, ",", ";", "\t"), key=header.count)  # the first of equals: the default
    decimal = "."
    if sep != ",":
        fields = re.split(rf"[{re.escape(sep)}\n]", rows)
        commas = sum(bool(re.fullmatch(r"\s*-?\d+,\d+\s*", f)) for f in fields)
        points = sum(bool(re.fullmatch(r"\s*-?\d+\.\d+\s*", f)) for f in fields)
        decimal = "," if commas and not points else "."
    return CsvDialect(sep=sep, decimal=decimal, encoding="utf-8-sig")


def read_cell_table(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise CellTableError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            # no Arrow thread pool: under load its threads were seen to abort the process at
            # exit ("terminate called without an active exception") after a short command
            table = pd.read_parquet(path, use_threads=False)
        elif suffix in (".csv", ".tsv"):
            table = pd.read_csv(path, **csv_dialect(path, "," if suffix == ".csv" else "\t"))
        elif suffix == ".h5ad":
            table = _table_from_anndata(path)
        else:
            raise CellTableError(f"{path}: unknown table format {suffix!r}; use {', '.join(READABLE_TABLE_SUFFIXES)}")
    except CellTableError:
        raise
    except UnicodeDecodeError:
        raise CellTableError(
            f"{path}: not UTF-8 text (a spreadsheet's CSV in a local encoding?); save it as 'CSV UTF-8'"
        ) from None
    except Exception as exc:
        raise CellTableError(f"{path}: cannot read the cell table ({exc})") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in table.columns]
    if missing:
        raise CellTableError(
            f"{path}: missing column(s) {', '.join(missing)}; a cell table needs {', '.join(REQUIRED_COLUMNS)}"
        )
    if table.empty:
        raise CellTableError(f"{path}: holds no cells (a header only); expected a row per cell, as quantify writes")
    problems = table_problems(table)
    if problems:
        raise CellTableError(f"{path}: {len(problems)} problem(s) in the cell table:\n  - " + "\n  - ".join(problems))
    return table


def _table_from_anndata(path: Path) -> pd.DataFrame:
    """An AnnData file as a cell table: ``obs`` with the markers (``var_names``) as columns
    after ``CellID``, MCMICRO's layout. The markers' values are ``raw`` when the file keeps
    them (scimap keeps the intensities there and their log in X), else X. A ``CellID`` missing
    from ``obs`` is read from the cell names (``<imageid>_<id>``, as scimap and quantify write
    them); missing centroids from ``obsm["spatial"]``."""
    import anndata

    adata = anndata.read_h5ad(path)
    source = adata.raw if adata.raw is not None and list(adata.raw.var_names) == list(adata.var_names) else adata
    if source.X is None:
        values = np.empty((adata.n_obs, 0))
    else:
        values = source.X.toarray() if hasattr(source.X, "toarray") else np.asarray(source.X)
    names = [str(v) for v in adata.var_names] if values.shape[1] else []
    markers = pd.DataFrame(values, columns=names, index=adata.obs.index)
    obs = adata.obs.rename(columns=dict(adata.uns.get("renamed_columns", {})))
    obs = obs.drop(columns=[c for c in markers.columns if c in obs.columns])
    for column in obs.columns:  # h5ad keeps text as categories: plain values, as the other formats
        if isinstance(obs[column].dtype, pd.CategoricalDtype):
            obs[column] = obs[column].astype(object)
    if "CellID" in obs.columns:
        ids = pd.to_numeric(obs["CellID"], errors="coerce")
        if ids.notna().all() and (ids % 1 == 0).all():  # ids kept as text: numbers, as in the other formats
            obs["CellID"] = ids.astype(np.int64)
    else:
        obs.insert(0, "CellID", _ids_from_cell_names(path, obs))
    spatial = adata.obsm.get("spatial")
    centroids = {}
    for axis, column in enumerate(("X_centroid", "Y_centroid")):
        if column in obs.columns:
            centroids[column] = obs.pop(column)
        elif spatial is not None and np.ndim(spatial) == 2 and spatial.shape[1] >= 2:
            centroids[column] = pd.Series(np.asarray(spatial)[:, axis], index=obs.index)
    # MCMICRO's order: CellID, the markers, the centroids, then the rest (what lies between
    # CellID and X_centroid is read as markers)
    table = pd.concat([obs[["CellID"]], markers, pd.DataFrame(centroids), obs.drop(columns=["CellID"])], axis=1)
    return table.reset_index(drop=True)


def _ids_from_cell_names(path: Path, obs: pd.DataFrame) -> np.ndarray:
    """``CellID`` from cell names ``<imageid>_<id>`` (scimap's and ours); anndata's default
    names ("0", "1", ...) and others are refused: they are row numbers, not the masks' ids."""
    names = pd.Series(obs.index.astype(str))
    parts = names.str.rsplit("_", n=1)
    prefix, number = parts.str[0], pd.to_numeric(parts.str[-1], errors="coerce")
    usable = (parts.str.len() == 2) & number.notna() & (number % 1 == 0)
    if "imageid" in obs.columns:
        usable &= prefix.to_numpy() == obs["imageid"].astype(str).to_numpy()
    if not usable.all():
        raise CellTableError(
            f"{path}: obs has no CellID column and the cell names ({obs.index[0]!r}, ...) are not "
            "<imageid>_<id>; add the masks' ids as obs['CellID']"
        )
    return number.astype(np.int64).to_numpy()


def table_problems(table: pd.DataFrame) -> list[str]:
    """What makes a table unusable: ids that are not unique whole numbers, centroids that are
    not finite numbers, text in a column of numbers (rows counted from 1)."""
    problems = []
    for column in table.columns:
        values = table[column]
        if values.dtype != object or (column not in REQUIRED_COLUMNS and _is_text(values)):
            continue
        numbers = pd.to_numeric(values, errors="coerce")
        junk = numbers.isna() & values.notna() & (values.astype(str).str.strip() != "")
        if junk.any() and (column in REQUIRED_COLUMNS or junk.sum() < numbers.notna().sum()):
            row = int(np.flatnonzero(junk)[0])
            problems.append(
                f"{column}: {int(junk.sum())} value(s) are not numbers, the first in row {row + 1:,} (counted from 1): {str(values.iloc[row])[:40]!r}"
            )
    ids = pd.to_numeric(table["CellID"], errors="coerce")
    if ids.isna().any() or (ids % 1 != 0).any():
        if not any(p.startswith("CellID:") for p in problems):
            problems.append("CellID: expected whole numbers for every cell")
    else:
        repeated = ids[ids.duplicated()]
        if len(repeated):
            unique = repeated.unique()
            shown = ", ".join(str(int(i)) for i in unique[:5]) + (", ..." if len(unique) > 5 else "")
            problems.append(f"CellID: {len(repeated)} repeated id(s) ({shown}); each cell needs its own id")
    for column in ("X_centroid", "Y_centroid"):
        coords = pd.to_numeric(table[column], errors="coerce")
        if not np.isfinite(coords.to_numpy(float)).all() and not any(p.startswith(f"{column}:") for p in problems):
            row = int(np.flatnonzero(~np.isfinite(coords.to_numpy(float)))[0])
            problems.append(
                f"{column}: every cell needs a finite position; row {row + 1:,} (counted from 1) has {table[column].iloc[row]}"
            )
    return problems


def _is_text(values: pd.Series, sample: int = 2000) -> bool:
    """A column of words (marker states, phenotypes), judged from a sample: fewer than a quarter
    of its filled values are numbers. Text is reported only in a column that is mostly numbers,
    so the million-cell check need not parse every word of such a column."""
    filled = values.dropna()
    if len(filled) <= sample:
        return False  # small enough to check in full
    picked = filled.sample(sample, random_state=0)
    return pd.to_numeric(picked, errors="coerce").notna().mean() < 0.25


def marker_columns(table: pd.DataFrame, markers) -> list[str]:
    """The MCMICRO per-marker columns present in ``table``, in ``markers`` order."""
    return [m for m in markers if m in table.columns]


# what a quantified table's numbers are measured in (MCMICRO's columns are in level-0 pixels)
UNITS = {
    "X_centroid": "px",
    "Y_centroid": "px",
    "X_centroid_um": "µm",
    "Y_centroid_um": "µm",
    "Area": "px²",
    "MajorAxisLength": "px",
    "MinorAxisLength": "px",
    "Orientation": "rad",
    "Eccentricity": "1",
    "Solidity": "1",
    "Extent": "1",
}


def bare_marker_columns(table: pd.DataFrame) -> list[str]:
    """A table in MCMICRO's own layout: the number columns mcquant writes between ``CellID`` and
    ``X_centroid``, each a marker's cell mean (an index, clusters or extra mask properties
    elsewhere in the table are not markers)."""
    columns = [str(c) for c in table.columns]
    if not {"CellID", "X_centroid"} <= set(columns):
        return []
    between = columns[columns.index("CellID") + 1 : columns.index("X_centroid")]
    return [
        c
        for c in between
        if c not in UNITS  # Y_centroid before X_centroid, as our tables have it, is no marker
        and pd.api.types.is_numeric_dtype(table[c])
        and not pd.api.types.is_bool_dtype(table[c])
    ]


def column_units(table: pd.DataFrame) -> dict[str, str]:
    """The unit of each of ``table``'s columns with a known one (compartment areas too)."""
    units = {c: UNITS[c] for c in table.columns if c in UNITS}
    units.update({c: "px²" for c in table.columns if str(c).endswith("_area")})
    return units


def pixel_size_of(table: pd.DataFrame) -> float | None:
    """The pixel size (µm) the table's µm centroids were computed with, when it has them."""
    if not {"X_centroid", "X_centroid_um"} <= set(table.columns):
        return None
    px, um = table["X_centroid"].to_numpy(float), table["X_centroid_um"].to_numpy(float)
    usable = np.isfinite(px) & np.isfinite(um) & (px > 0)
    return float(np.median(um[usable] / px[usable])) if usable.any() else None


def to_anndata(table: pd.DataFrame, markers, *, image_id: str = "image", pixel_size_um: float | None = None):
    """AnnData with marker means as X and everything else in obs (scimap's layout).

    ``obs`` holds ``CellID``, ``X_centroid``, ``Y_centroid``, morphology and ``imageid``;
    ``obsm["spatial"]`` the centroids in pixels (x, y), as squidpy expects; ``uns["units"]``
    the unit of each obs column that has one and ``uns["pixel_size_um"]`` the pixel size of
    those pixels (``pixel_size_um``, else from the table's µm centroids), when known.
    """
    import anndata

    markers = marker_columns(table, markers)
    obs = table.drop(columns=markers).copy()
    for column in obs.columns:  # h5ad has no date type: a review's times as ISO 8601 text
        if pd.api.types.is_datetime64_any_dtype(obs[column]):
            obs[column] = obs[column].map(lambda t: t.isoformat() if pd.notna(t) else "")
    obs["imageid"] = image_id
    obs.index = [f"{image_id}_{cid}" for cid in table["CellID"]]
    units = column_units(obs)
    renamed = h5_safe_names(obs.columns)
    obs = obs.rename(columns=renamed)
    adata = anndata.AnnData(X=table[markers].to_numpy(np.float32), obs=obs)
    adata.var_names = markers
    adata.obsm["spatial"] = table[["X_centroid", "Y_centroid"]].to_numpy()
    probabilities = len(markers) > 0 and all(str(m).startswith("prob_") for m in markers)
    x_unit = "probability of each class" if probabilities else "cell mean of the slide's stored intensities"
    adata.uns["units"] = {**{renamed.get(c, c): u for c, u in units.items()}, "X": x_unit, "spatial": "px"}
    if renamed:  # the names as the table had them, for a reader (ours reads them back)
        adata.uns["renamed_columns"] = {new: old for old, new in renamed.items()}
    pixel_size = pixel_size_um if pixel_size_um is not None else pixel_size_of(table)
    if pixel_size is not None:
        adata.uns["pixel_size_um"] = pixel_size
    return adata


def h5_safe_names(columns) -> dict[str, str]:
    """obs columns are HDF5 names, where ``/`` separates groups (anndata warns, and will refuse):
    a marker ``CD3/CD4``'s ``CD3/CD4_cell_mean`` is stored as ``CD3_CD4_cell_mean``."""
    renamed = {str(c): str(c).replace("/", "_") for c in columns if "/" in str(c)}
    taken = {str(c) for c in columns} - set(renamed)
    for old, new in renamed.items():
        if new in taken:
            raise ValueError(f"the table's columns {old!r} and {new!r} would both be {new!r} in AnnData; rename one")
        taken.add(new)
    return renamed


def write_cells(table: pd.DataFrame, path, markers, *, image_id: str = "image", pixel_size_um=None) -> Path:
    """A cell table in the format its name says: AnnData for ``.h5ad`` (``markers`` as X),
    else Parquet / CSV / TSV (atomically either way)."""
    if str(path).lower().endswith(".h5ad"):
        return write_anndata(table, path, markers, image_id=image_id, pixel_size_um=pixel_size_um)
    return write_cell_table(table, path)


def write_anndata(
    table: pd.DataFrame, path: str | Path, markers, *, image_id: str = "image", pixel_size_um: float | None = None
) -> Path:
    adata = to_anndata(table, markers, image_id=image_id, pixel_size_um=pixel_size_um)
    return atomic_write(path, lambda p: adata.write_h5ad(p))

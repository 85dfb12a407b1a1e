"""A panel named as other platforms name it (DAPI, CD3, CD8, PanCK rather than Orion's Hoechst,
CD3e, CD8a, Pan-CK): the viewer shows its nuclear and lineage channels, the review gallery and
the classifier's data set read them, where Orion's names used to be read literally."""

from __future__ import annotations

import pandas as pd
import pytest

from napari_ifcell.core.review.gallery import channels_for
from napari_ifcell.io import open_slide
from napari_ifcell.io.channels import panel_channels

from .conftest import HE_OFFSET_PX
from .test_cli import run_cli

OTHER_NAMES = {"Hoechst": "DAPI", "CD3e": "CD3", "CD8a": "CD8", "Pan-CK": "PanCK"}


@pytest.fixture(scope="module")
def renamed(small_pair):
    with open_slide(small_pair.if_path) as slide:
        return [OTHER_NAMES.get(n, n) for n in slide.channel_names]


def test_orions_names_are_found_under_this_panels_names(renamed):
    assert panel_channels(channels_for("CD8 T"), renamed) == ("DAPI", "CD3", "CD8")
    assert panel_channels(channels_for("other"), renamed) == ("DAPI", "CD45", "PanCK")
    assert panel_channels(("Hoechst", "CD3e", "not there"), ["DNA1", "cd3"]) == ("DNA1", "cd3")


def test_the_viewer_shows_the_nuclear_and_lineage_channels_in_orions_colours(small_pair, renamed):
    from napari_ifcell._napari.layers import if_layer_data

    with open_slide(small_pair.if_path, channel_names=renamed) as slide:
        _, kwargs, _ = if_layer_data(slide)
    shown = {n for n, visible in zip(kwargs["name"], kwargs["visible"]) if visible}
    assert shown == {"DAPI", "PanCK", "CD3", "CD20"}
    colour = dict(zip(kwargs["name"], kwargs["colormap"]))
    assert (colour["DAPI"], colour["PanCK"], colour["CD3"]) == ("blue", "green", "magenta")


def _renamed_column(column: str) -> str:
    """``CD3e`` and ``CD3e_cell_mean`` as ``CD3`` and ``CD3_cell_mean``."""
    marker, _, rest = column.partition("_")
    return OTHER_NAMES.get(marker, marker) + (f"_{rest}" if rest else "")


@pytest.mark.parametrize("task", ["multiclass", "multitask"])
def test_the_data_set_reads_this_panels_nuclear_stain_and_gated_markers(
    small_pair, small_table, renamed, task, tmp_path
):
    from napari_ifcell.core.gating.apply import gated_table
    from napari_ifcell.core.gating.auto import suggested_gateset

    table = small_table.rename(columns=_renamed_column)
    gates, _ = suggested_gateset(table)
    gated = tmp_path / "gated.parquet"
    gated_table(table, gates).to_parquet(gated, index=False)
    assert "CD3_state" in pd.read_parquet(gated).columns
    done = run_cli(
        "export-dataset", gated, "--if", small_pair.if_path, "--channel-names", ",".join(renamed),
        "--he", small_pair.he_path, "--he-offset-um", *(v * 0.325 for v in HE_OFFSET_PX),
        "--labels", small_pair.labels_path, "--out", tmp_path / "ds", "--input", "he+hoechst", "--task", task,
        "-n", "40",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "train" in done.stdout

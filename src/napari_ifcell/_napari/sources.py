"""The slides a widget should work on: the ones the Loader opened, or files."""

from __future__ import annotations

from pathlib import Path

from napari_ifcell._napari.layers import PLUGIN_KEY
from napari_ifcell._napari.state import workflow_state

# what a slide field's file dialog offers; an OME-Zarr is a folder the dialog cannot pick
SLIDE_FILTER = "*.tif *.tiff *.svs *.zarr"
ZARR_TIP = "an OME-Zarr is a folder: type or paste its path"
# io.cell_table.READABLE_TABLE_SUFFIXES, written out: importing it would load pandas when a widget is docked
TABLE_FILTER = "*.parquet *.csv *.tsv *.h5ad"


def layer_with_role(viewer, role: str):
    for layer in viewer.layers:
        if layer.metadata.get(PLUGIN_KEY, {}).get("role") == role:
            return layer
    return None


def slide_layer(viewer):
    """The layer of the slide cells are placed on: the IF, or an H&E opened alone."""
    return layer_with_role(viewer, "if") or layer_with_role(viewer, "he")


LABEL_IMAGE_FILTER = "Label images (*.tif *.tiff)"


def nuclei_field(label: str, tooltip: str):
    """A field for the nuclei: a label store folder (its Choose button picks a folder) or a label
    image file (its File... button), as one picker cannot offer both."""
    from magicgui.widgets import FileEdit
    from qtpy.QtWidgets import QFileDialog, QPushButton

    field = FileEdit(label=label, mode="d", tooltip=tooltip)
    button = QPushButton("File...")
    button.setToolTip("a label image file (another tool's cell masks TIFF)")

    def choose_file() -> None:
        start = str(given_path(field) or "")
        path, _ = QFileDialog.getOpenFileName(field.native, f"{label}: a label image", start, LABEL_IMAGE_FILTER)
        if path:
            field.value = path

    button.clicked.connect(choose_file)
    field.native.layout().addWidget(button)
    field.file_button = button  # for scripts and tests
    return field


def given_path(field) -> Path | None:
    """A file field's path, or None when left empty (magicgui reads an empty field as ".")."""
    return _path_or_none(field.value)


def set_path(field, path) -> None:
    """Fill a file field, or clear it for None (magicgui's FileEdit turns "" into the working folder)."""
    if path is None:
        field.line_edit.value = ""
    else:
        field.value = path


def he_offset_um(viewer) -> tuple[float, float]:
    """The Loader's H&E registration offset (H&E = IF + offset, µm): the H&E layer's
    translate, reversed; zero without an H&E layer."""
    layer = layer_with_role(viewer, "he")
    return (-float(layer.translate[-2]), -float(layer.translate[-1])) if layer is not None else (0.0, 0.0)


def _pixel_size_on_screen(layer) -> float:
    """µm per level-0 pixel as the layer is shown: the Loader's pixel size, overrides included."""
    return float(layer.scale[-1])


def _path_or_none(value) -> Path | None:
    text = str(value or "")
    return None if text in ("", ".") else Path(text)


def _same_file(given: Path | None, on_screen: Path | None) -> bool:
    """A field left empty, or naming the slide already open."""
    return given is None or (on_screen is not None and given.resolve() == on_screen.resolve())


def open_sources(viewer, if_path: str = "", he_path: str = "", *, need_he: bool = False):
    """(slide, SlidePair or None) a step works on.

    Empty paths, or paths of the slides the Loader opened, give the Loader's own slide objects,
    with its pixel-size overrides and H&E registration. Other paths are opened here. Without the
    Loader, layers opened by the reader are used (their scale and translate as pixel sizes and
    offset). An H&E alone is the slide itself (no pair): it satisfies ``need_he``, as every step
    runs on it.
    """
    state = workflow_state(viewer)
    if_given, he_given = _path_or_none(if_path), _path_or_none(he_path)
    if (
        state.slide is not None
        and _same_file(if_given, state.path_of("if"))
        and _same_file(he_given, state.path_of("he"))
    ):
        if state.pair is not None:
            return state.pair.if_slide, state.pair
        if need_he and not state.slide.is_rgb:
            raise ValueError("this step reads the H&E: open it with the IF slide (Loader) or choose the H&E file")
        return state.slide, None
    return _open_from_layers_or_files(viewer, str(if_given or ""), str(he_given or ""), need_he=need_he)


def _open_from_layers_or_files(viewer, if_path: str, he_path: str, *, need_he: bool):
    from napari_ifcell.io import open_pair, open_slide

    offset = (0.0, 0.0)
    if_ps = he_ps = None
    if if_path in ("", "."):
        layer = slide_layer(viewer)
        if layer is not None and layer_with_role(viewer, "if") is None and he_path in ("", "."):  # an H&E alone
            return open_slide(layer.metadata[PLUGIN_KEY]["path"], pixel_size_um=_pixel_size_on_screen(layer)), None
        if layer is None:
            raise ValueError("open a slide (Loader: an IF slide, an H&E, or both) or choose the slide file")
        if_path, if_ps = layer.metadata[PLUGIN_KEY]["path"], _pixel_size_on_screen(layer)
    if he_path in ("", "."):
        layer = layer_with_role(viewer, "he")
        if layer is not None:
            he_path, he_ps = layer.metadata[PLUGIN_KEY]["path"], _pixel_size_on_screen(layer)
            offset = he_offset_um(viewer)
    if he_path in ("", "."):
        if need_he:
            raise ValueError("open the H&E with the IF slide (Loader) or choose the H&E file")
        return open_slide(if_path, pixel_size_um=if_ps), None
    pair = open_pair(if_path, he_path, offset_um=offset, if_pixel_size_um=if_ps, he_pixel_size_um=he_ps)
    return pair.if_slide, pair

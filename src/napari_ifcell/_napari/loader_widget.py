"""Loader dock widget: open an IF + H&E pair (or either alone), pick channels, set pixel sizes
and the H&E offset. What it opens becomes the viewer's shared workflow state."""

from __future__ import annotations

from pathlib import Path

from magicgui.widgets import CheckBox, Container, FileEdit, FloatSpinBox, Label, PushButton, Select

from napari_ifcell._napari.file_open import ReaderSlides
from napari_ifcell._napari.layers import (
    PLUGIN_KEY,
    UNITLESS_SCALE,
    he_layer_data,
    if_layer_data,
    remove_layers,
    set_overlay_mode,
)
from napari_ifcell._napari.sources import SLIDE_FILTER, ZARR_TIP, given_path
from napari_ifcell._napari.state import workflow_state
from napari_ifcell._napari.view import level_for_size, visible_region_px
from napari_ifcell._napari.workers import run_in_background
from napari_ifcell.orion import ORION_PIXEL_SIZE_UM

# the roles of the layers drawn from a slide's cells (see layers.PLUGIN_KEY)
CELL_LAYERS = ("segmentation", "gating", "classifier", "comparison", "review")


def _load_pair(if_path, he_path, shown_pixel_size_um: float):
    """Worker side: open both slides and prepare layer data (reads one thumbnail level)."""
    from napari_ifcell.io import open_pair

    def assume(slide):
        slide.assume_pixel_size(*_size_to_assume(slide, shown_pixel_size_um, "IF µm/px"))

    def assume_he(slide):  # only a size its file suggests: without one, an H&E takes the IF's
        if slide.pixel_size_hint_um is not None:
            slide.assume_pixel_size(slide.pixel_size_hint_um, UNITLESS_SCALE + "; correct it in H&E µm/px if wrong")

    pair = open_pair(if_path, he_path, assume_pixel_size=assume, assume_he_pixel_size=assume_he)
    scale, translate = pair.he_world_transform()
    return pair, he_layer_data(pair.he_slide, scale=scale, translate=translate), if_layer_data(pair.if_slide)


def _load_alone(path, role: str):
    """Worker side: open an IF (``role="if"``) or H&E (``"he"``) slide that has no partner and
    prepare its layer data."""
    from napari_ifcell.io import open_slide

    slide = open_slide(path)
    if slide.is_rgb != (role == "he"):
        slide.close()
        given, other = ("H&E", "IF slide") if role == "he" else ("IF slide", "H&E")
        kind = "not an RGB image" if role == "he" else "an RGB image"
        raise ValueError(f"{path}: given as the {given} but it is {kind}; give it as the {other}")
    return slide, (he_layer_data(slide) if slide.is_rgb else if_layer_data(slide))


def _pixel_size_shown(slide, box) -> float:
    """The slide's pixel size; where its file gives none, the one ``box`` shows, applied to the
    slide (every step reads it from there) and said in its notes, so no step meets an unknown
    size the Loader seemed to know."""
    if slide.pixel_size_um is None:
        slide.assume_pixel_size(*_size_to_assume(slide, box.value, box.label))
    return slide.pixel_size_um


def _levels(slide) -> str:
    n = len(slide.levels)
    return f"{n} level" if n == 1 else f"{n} levels"


def _size_to_assume(slide, shown: float, box_label: str) -> tuple[float, str]:
    """For a slide whose file gives no pixel size: the size its cells were segmented at (its
    label store records it), else a unitless scale its file gives (read as µm), else the one
    the Loader shows; with what ``Slide.assume_pixel_size`` says of it."""
    from napari_ifcell.io.label_store import LabelStore
    from napari_ifcell.io.project import project_folder

    correct_it = f"correct it in {box_label} if wrong"
    recorded = (LabelStore.recorded(project_folder(slide.path)) or {}).get("pixel_size_um")
    if recorded:
        return recorded, f"as its cells were segmented; {correct_it}"
    if slide.pixel_size_hint_um is not None:
        return slide.pixel_size_hint_um, f"{UNITLESS_SCALE}; {correct_it}"
    return shown, correct_it


class LoaderWidget(ReaderSlides, Container):
    """Open a slide pair (or an IF or H&E slide alone), toggle IF channels, show and override
    pixel size and H&E offset."""

    def __init__(self, napari_viewer):
        """``napari_viewer``: napari passes the viewer by this parameter name."""
        self.viewer = napari_viewer
        self.state = workflow_state(napari_viewer)
        self.pair = None
        self.if_layers: list = []
        self.he_layer = None
        self.if_file = FileEdit(label="IF slide", mode="r", filter=SLIDE_FILTER, tooltip=ZARR_TIP)
        self.he_file = FileEdit(label="H&E slide", mode="r", filter=SLIDE_FILTER, tooltip=ZARR_TIP)
        # "&&" shows "&" on a button or checkbox: Qt reads one "&" as a shortcut marker
        self.open_button = PushButton(text="Open (IF + H&&E, or either alone)")
        self.close_button = PushButton(text="Close slides")
        self.he_alone = None  # an H&E slide opened without IF
        self.if_alone = None  # an IF slide opened without H&E
        self.info = Label(value="No slides open.")
        # choices from a callable: napari calls reset_choices() whenever layers change, which
        # would put a static list back to its initial (empty) value
        self._channel_names: list[str] = []
        self.channels = Select(
            label="IF channels shown", choices=lambda _widget: self._channel_names, allow_multiple=True
        )
        self.over_he = CheckBox(text="IF over H&&E (transparent where dark)", value=True)
        self.if_pixel_size = FloatSpinBox(label="IF µm/px", min=0.001, max=100.0, step=0.001, value=ORION_PIXEL_SIZE_UM)
        self.he_pixel_size = FloatSpinBox(
            label="H&E µm/px", min=0.001, max=100.0, step=0.001, value=ORION_PIXEL_SIZE_UM
        )
        self.offset_y = FloatSpinBox(label="H&E offset y (µm)", min=-5000.0, max=5000.0, step=0.05)
        self.offset_x = FloatSpinBox(label="H&E offset x (µm)", min=-5000.0, max=5000.0, step=0.05)
        for box in (self.offset_y, self.offset_x):  # an estimate in whole pixels of 0.325 µm (0.975) is kept
            box.native.setDecimals(3)
        self.estimate_button = PushButton(text="Estimate H&&E offset in view")
        self.status = Label(value="")
        super().__init__(
            widgets=[
                self.if_file,
                self.he_file,
                self.open_button,
                self.close_button,
                self.info,
                self.channels,
                self.over_he,
                self.if_pixel_size,
                self.he_pixel_size,
                self.offset_y,
                self.offset_x,
                self.estimate_button,
                self.status,
            ]
        )
        self.open_button.changed.connect(self._open_clicked)
        self.close_button.changed.connect(self.close_slides)
        self.channels.changed.connect(self._show_channels)
        self.over_he.changed.connect(lambda on: set_overlay_mode(self.if_layers, on))
        self.if_pixel_size.changed.connect(self._apply_geometry)
        self.he_pixel_size.changed.connect(self._apply_geometry)
        self.offset_y.changed.connect(self._apply_geometry)
        self.offset_x.changed.connect(self._apply_geometry)
        self.estimate_button.changed.connect(self.estimate_offset)
        self._set_enabled(False)
        self._compact()
        self._take_up_reader_slides_soon()

    def _compact(self) -> None:
        """Keep the dock narrow so the canvas keeps the room."""
        from qtpy.QtWidgets import QSizePolicy

        self.max_width = 420
        self.channels.native.setMaximumHeight(220)
        for label in (self.info, self.status):
            label.native.setWordWrap(True)
            # a long message (an error naming a path) gets the lines it needs instead of being clipped
            label.native.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)

    # --- opening ---------------------------------------------------------------------
    def _open_clicked(self) -> None:
        if_given, he_given = (given_path(f) is not None for f in (self.if_file, self.he_file))
        if he_given and not if_given:
            self.open_he_alone(self.he_file.value)
        elif if_given and not he_given:
            self.open_if_alone(self.if_file.value)
        else:
            self.open_pair(self.if_file.value, self.he_file.value)

    def open_he_alone(self, he_path: str | Path, *, sync: bool | None = None):
        """Open an H&E slide with no IF (in a worker thread): every step then runs on it."""
        return self._open_alone(he_path, "he", sync=sync)

    def open_if_alone(self, if_path: str | Path, *, sync: bool | None = None):
        """Open an IF slide with no H&E (in a worker thread): segment, quantify and gate run on it."""
        return self._open_alone(if_path, "if", sync=sync)

    def _open_alone(self, path, role: str, *, sync: bool | None):
        self.status.value, self._opening = "Opening...", True
        return run_in_background(
            _load_alone, path, role, on_done=self._on_opened_alone, on_error=self._on_error, sync=sync
        )

    def _on_opened_alone(self, result) -> None:
        slide, data = result
        self._replace_layers([slide.path], cells_on=slide.path)
        he = slide.is_rgb
        self.pair, self.he_alone, self.if_alone = None, slide if he else None, None if he else slide
        added = self.viewer.add_image(data[0], **data[1])
        self.he_layer, self.if_layers = (added, []) if he else (None, list(added))
        self._set_channels([] if he else list(slide.channel_names))
        size = self.he_pixel_size if he else self.if_pixel_size
        with self._geometry_blocked():
            size.value = _pixel_size_shown(slide, size)
        for layer in [self.he_layer] if he else self.if_layers:  # drawn before a size the file lacks was assumed
            layer.scale = (slide.pixel_size_um, slide.pixel_size_um)  # the slide's own, not the box's rounding
        h, w = slide.shape
        if he:
            what, runs = "H&E", "no IF: segment, classify, review and compare run on the H&E"
        else:
            what, runs = "IF", f"{slide.n_channels} channels, no H&E: segment, quantify and gate run on the IF"
        self.info.value = f"{what} {slide.path.name}: {h} x {w} px, {_levels(slide)}, {runs}"
        self.status.value = self._opened_notes(slide.notes, slide.path)
        self._set_enabled(False)
        size.enabled = True
        self.channels.enabled = not he
        self.state.set_slides(slide)
        self._opened()

    def open_pair(self, if_path: str | Path, he_path: str | Path, *, sync: bool | None = None):
        """Open the pair in a worker thread (inline with ``sync=True``); errors go to the status line."""
        self.status.value, self._opening = "Opening...", True
        return run_in_background(
            _load_pair,
            if_path,
            he_path,
            self.if_pixel_size.value,  # for an IF whose file gives no pixel size, as the box shows
            on_done=self._on_opened,
            on_error=self._on_error,
            sync=sync,
        )

    def _on_opened(self, result) -> None:
        pair, he_data, if_data = result
        self._replace_layers([pair.if_slide.path, pair.he_slide.path], cells_on=pair.if_slide.path)
        self.pair, self.he_alone, self.if_alone = pair, None, None
        self.he_layer = self.viewer.add_image(he_data[0], **he_data[1])
        self.if_layers = list(self.viewer.add_image(if_data[0], **if_data[1]))
        set_overlay_mode(self.if_layers, self.over_he.value)
        self._set_channels(list(pair.if_slide.channel_names))
        with self._geometry_blocked():
            self.if_pixel_size.value = pair.if_slide.pixel_size_um
            self.he_pixel_size.value = pair.he_slide.pixel_size_um
            self.offset_y.value, self.offset_x.value = pair.registration.offset_um
        self.info.value = self._describe(pair)
        self.status.value = self._opened_notes(pair.all_notes, pair.if_slide.path)
        self._set_enabled(True)
        self.state.set_slides(pair.if_slide, pair)
        self._opened()

    def _opened_notes(self, notes: list[str], slide_path) -> str:
        """What the status says once slides are open: their notes, and what became of the
        regions drawn on the slide before (regions belong to the slide cells are placed on)."""
        from napari_ifcell._napari.region_layer import regions_for_slide

        said = regions_for_slide(self.viewer, slide_path)
        return "; ".join([*notes, *([said] if said else [])]) or "Opened."

    def _set_channels(self, names: list[str]) -> None:
        """The channel list, ticked for the channels shown. Layers are matched by position, not
        by name: napari renames a layer whose name is taken ("Hoechst [1]")."""
        self._channel_names = names
        with self.channels.changed.blocked():
            self.channels.reset_choices()
            self.channels.value = [n for n, layer in zip(names, self.if_layers) if layer.visible]

    def _replace_layers(self, paths, cells_on=None) -> None:
        """Remove this widget's layers and any other layer showing one of ``paths`` (e.g. the
        same slide opened from File > Open Sample), so opening again never duplicates them.
        When the slide cells are placed on changes to ``cells_on`` (or is closed: None), the
        layers drawn from its cells (segmentation, gates, classifier, comparison, review) go
        too: they are not the next slide's."""
        opened, ours = {str(p) for p in paths}, [*self.if_layers, self.he_layer]
        previous = self.state.slide
        other_slide = previous is not None and (cells_on is None or str(previous.path) != str(cells_on))

        def replaced(layer) -> bool:
            ifcell = layer.metadata.get(PLUGIN_KEY, {})
            return layer in ours or ifcell.get("path") in opened or (other_slide and ifcell.get("role") in CELL_LAYERS)

        remove_layers(self.viewer, [x for x in self.viewer.layers if replaced(x)])

    def close_slides(self) -> None:
        """Remove the slides' layers and forget them (the files and results stay on disk)."""
        self._replace_layers([])
        for slide in (self.he_alone, self.if_alone, *((self.pair.if_slide, self.pair.he_slide) if self.pair else ())):
            if slide is not None:
                slide.close()
        self.pair = self.he_alone = self.if_alone = self.he_layer = None
        self.if_layers = []
        self._set_channels([])
        with self._geometry_blocked():  # the next file without a pixel size must not take this one's
            self.if_pixel_size.value = self.he_pixel_size.value = ORION_PIXEL_SIZE_UM
            self.offset_y.value = self.offset_x.value = 0.0
        self._set_enabled(False)
        self.info.value, self.status.value = "No slides open.", ""
        self.state.clear()

    def _on_error(self, exc: Exception) -> None:
        self._opening = False
        self.status.value = f"Error: {exc}"
        try:
            from napari.utils.notifications import show_error

            show_error(str(exc))
        except Exception:  # noqa: BLE001 - a notification failure must not hide the error
            pass

    @staticmethod
    def _describe(pair) -> str:
        s, h = pair.if_slide, pair.he_slide
        return (
            f"IF {s.path.name}: {s.shape[0]} x {s.shape[1]} px, {s.n_channels} channels, {_levels(s)}\n"
            f"H&E {h.path.name}: {h.shape[0]} x {h.shape[1]} px, {_levels(h)}"
        )

    # --- channels and geometry ----------------------------------------------------------
    def _show_channels(self, shown) -> None:
        for name, layer in zip(self._channel_names, self.if_layers):
            layer.visible = name in shown

    def _geometry_blocked(self):
        from contextlib import ExitStack

        stack = ExitStack()
        for w in (self.if_pixel_size, self.he_pixel_size, self.offset_y, self.offset_x):
            stack.enter_context(w.changed.blocked())
        return stack

    def _apply_geometry(self) -> None:
        """Push pixel sizes and offset into the pair and the layers' scale/translate; the layers
        drawn on the slide's grid (cells, gates, regions) follow its pixel size."""
        if self.he_alone is not None:
            ps = self.he_pixel_size.value
            self._rescale_cell_layers(self.he_alone.pixel_size_um, ps)
            self.he_alone.pixel_size_um = ps
            self.he_layer.scale = (ps, ps)
            return
        if self.if_alone is not None:
            ps = self.if_pixel_size.value
            self._rescale_cell_layers(self.if_alone.pixel_size_um, ps)
            self.if_alone.pixel_size_um = ps
            for layer in self.if_layers:
                layer.scale = (ps, ps)
            return
        if self.pair is None:
            return
        self._rescale_cell_layers(self.pair.if_slide.pixel_size_um, self.if_pixel_size.value)
        self.pair.if_slide.pixel_size_um = self.if_pixel_size.value
        self.pair.he_slide.pixel_size_um = self.he_pixel_size.value
        self.pair.registration.offset_um = (self.offset_y.value, self.offset_x.value)
        ps = self.if_pixel_size.value
        for layer in self.if_layers:
            layer.scale = (ps, ps)
        scale, translate = self.pair.he_world_transform()
        self.he_layer.scale = scale
        self.he_layer.translate = translate

    def _rescale_cell_layers(self, old_um: float | None, new_um: float) -> None:
        """Layers drawn on the slide's pixel grid at ``old_um`` µm/px, redrawn at ``new_um``:
        their world scale and place grow by the same factor as the slide's, so the cells stay
        on their nuclei (whatever units their data are in)."""
        if not old_um or abs(new_um / old_um - 1) < 1e-9:
            return
        factor = new_um / old_um
        for layer in self.viewer.layers:
            if layer.metadata.get(PLUGIN_KEY, {}).get("role") in (*CELL_LAYERS, "regions", "labels"):
                axes = len(layer.scale) - 2  # the slide's y and x: the last two axes
                layer.scale = tuple(s * (factor if i >= axes else 1) for i, s in enumerate(layer.scale))
                layer.translate = tuple(t * (factor if i >= axes else 1) for i, t in enumerate(layer.translate))

    # --- offset estimation --------------------------------------------------------------
    def estimate_offset(self):
        if self.pair is None:
            return None
        slide = self.pair.if_slide
        y, x, h, w = visible_region_px(self.viewer, slide.pixel_size_um, slide.shape)
        if h < 64 or w < 64:
            self.status.value = "Zoom out: the view shows too little of the slide to estimate an offset."
            return None
        level = level_for_size(h, w, slide.downsamples)
        f = slide.downsamples[level]
        self.status.value = f"Estimating the offset on {h} x {w} px at level {level}..."
        return run_in_background(
            self.pair.estimate_offset,
            int(y / f),
            int(x / f),
            max(1, int(h / f)),
            max(1, int(w / f)),
            level=level,
            on_done=self.use_estimate,
            on_error=self._on_error,
        )

    def use_estimate(self, estimate) -> None:
        self.offset_y.value, self.offset_x.value = estimate.offset_um  # triggers _apply_geometry
        dy, dx = estimate.offset_px
        self.status.value = (
            f"H&E offset {estimate.offset_um[0]:.2f}, {estimate.offset_um[1]:.2f} µm "
            f"({dy:.1f}, {dx:.1f} px); match correlation {estimate.correlation:.2f}"
        )

    def _set_enabled(self, enabled: bool) -> None:
        for w in (
            self.channels,
            self.over_he,
            self.if_pixel_size,
            self.he_pixel_size,
            self.offset_y,
            self.offset_x,
            self.estimate_button,
        ):
            w.enabled = enabled

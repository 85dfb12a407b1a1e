"""The Compare tab's fields for another model's output file (HoVer-Net, TIAToolbox, CellViT,
HistoPLUS, QuPath): its name, type map, resolution, format and origin, as the CLI's per-model
options give them."""

from __future__ import annotations

from pathlib import Path

from magicgui.widgets import CheckBox, ComboBox, FileEdit, FloatSpinBox, LineEdit, PushButton

from napari_ifcell._napari.sources import given_path, set_path
from napari_ifcell.core.compare.type_maps import PRESETS
from napari_ifcell.io.detections import FORMATS

MAX_ORIGIN_PX = 10_000_000  # past the widest slide's level 0


class ModelFileForm:
    """The fields, in the order shown; :meth:`source` reads them into a ``DetectionSource``.
    The file's rarer settings (type map file, format, origin) show on asking, and go back to
    their defaults when hidden: what applies is what is shown."""

    def __init__(self) -> None:
        self.name = LineEdit(label="Model name", value="HoVer-Net")
        self.file = FileEdit(label="Model output", mode="r")
        self.type_map = ComboBox(
            label="Type map",
            choices=["auto", *PRESETS],
            value="auto",
            tooltip="auto: the one the file's format implies (lizard for HoVer-Net ids, cellvit, histoplus, "
            "class names for QuPath)",
        )
        self.more = CheckBox(
            text="More about this file (map file, format, origin)",
            value=False,
            tooltip="unticked: the Type map applies, the format is told from the file, and its image began at 0, 0",
        )
        self.type_map_file = FileEdit(
            label="Type map file",
            mode="r",
            filter="*.json",
            tooltip='a custom map, e.g. {"classes": {"Immune cells": "lymphocyte"}}; used instead of the Type map',
        )
        self.model_um = FloatSpinBox(
            label="Model ran at (µm/px)",
            min=0.0,
            max=10.0,
            step=0.005,
            value=0.0,
            tooltip="0: the file's own (CellViT's base_mpp), else the type map's training resolution",
        )
        self.model_um.native.setSpecialValueText("file's or map's own")  # 0 reads as words, not "0.000"
        self.format = ComboBox(
            label="File format",
            choices=["auto", *FORMATS],
            value="auto",
            tooltip="auto: told from the file's name and content",
        )
        self.origin_y, self.origin_x = (
            FloatSpinBox(
                label=f"Image began at {axis} (px)",
                min=-MAX_ORIGIN_PX,
                max=MAX_ORIGIN_PX,
                step=1.0,
                value=0.0,
                tooltip="where the image the model ran on began on the slide, in level-0 pixels "
                "(a tile or region the model was run on; 0, 0: the whole slide)",
            )
            for axis in ("y", "x")
        )
        self.trust = CheckBox(text="I trust this file (TIAToolbox .dat is a pickle)", value=False)
        self.file.changed.connect(lambda _=None: setattr(self.trust, "value", False))
        self.add_button = PushButton(text="Add model file")
        self.more.changed.connect(self._show_more)
        self._show_more()

    @property
    def widgets(self) -> list:
        return [
            self.name,
            self.file,
            self.type_map,
            self.model_um,
            self.more,
            self.type_map_file,
            self.format,
            self.origin_y,
            self.origin_x,
            self.trust,
            self.add_button,
        ]

    def _show_more(self, _=None) -> None:
        for field in (self.type_map_file, self.format, self.origin_y, self.origin_x):
            field.visible = self.more.value
        if not self.more.value:
            set_path(self.type_map_file, None)
            self.format.value = "auto"
            self.origin_y.value = self.origin_x.value = 0.0

    def source(self, path: Path, offset_um: tuple[float, float]):
        """The model file at ``path`` as the fields describe it, moved by the H&E registration
        ``offset_um`` (the model ran on the H&E); a custom type map file is checked here."""
        from napari_ifcell.pipeline.detection_source import DetectionSource, type_map_spec

        map_file = given_path(self.type_map_file)
        return DetectionSource(
            path,
            type_map=type_map_spec(str(map_file)) if map_file else self.type_map.value,
            model_um_per_px=self.model_um.value or None,
            format=self.format.value,
            origin_px=(self.origin_y.value, self.origin_x.value),
            offset_um=offset_um,
            trust=self.trust.value,
        )

    def added(self) -> None:
        """After a model is added: what belongs to one file is chosen again for the next (trust,
        so a .dat is not unpickled unasked; a custom map; the origin of its image)."""
        self.trust.value = False
        set_path(self.type_map_file, None)
        self.origin_y.value = self.origin_x.value = 0.0

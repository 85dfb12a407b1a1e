"""Comparison dock widget: draw and name regions, add models (our classifier's predictions,
HoVer-Net / TIAToolbox / QuPath files), and see per-region P / R / F1 with TP / FP / FN overlays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from magicgui.widgets import CheckBox, Container, FileEdit, Label, LineEdit, PushButton, Table

from napari_ifcell._napari.compare_model_form import ModelFileForm
from napari_ifcell._napari.layers import PLUGIN_KEY, remove_layers
from napari_ifcell._napari.palette import MODEL_SYMBOLS, OUTCOME_COLOURS, legend_html
from napari_ifcell._napari.region_layer import (
    find_regions_layer,
    layer_regions,
    recolour_regions,
    regions_layer,
    set_layer_regions,
)
from napari_ifcell._napari.settings_form import settings_fields
from napari_ifcell._napari.sources import TABLE_FILTER, given_path, he_offset_um, set_path, slide_layer
from napari_ifcell._napari.state import GATED, LABELS, PREDICTIONS, SLIDES, workflow_state
from napari_ifcell._napari.workers import run_in_background
from napari_ifcell.core.compare.report import OUTCOME_CODES
from napari_ifcell.io.comparison_report import score_text
from napari_ifcell.notes import recording_notes
from napari_ifcell.pipeline.compare import CompareSettings, matching_summary

OVERLAY_OUTCOMES = ("TP", "FP", "FN", "ignored")  # ignored: a call on a cell the truth has no class for


class CompareWidget(Container):
    def __init__(self, napari_viewer):
        self.viewer = napari_viewer
        self.sources: dict[str, object] = {}  # model name -> DetectionSource or a predictions table path
        self.report = self.counts = None
        self.about: list[str] = []  # how the shown comparison was made, for its saved report
        self.region_name = LineEdit(label="Region name", value="")
        self.name_button = PushButton(text="Name the selected region")
        self.save_regions_button = PushButton(text="Save regions to project")
        self.regions_file = FileEdit(
            label="Regions file",
            mode="r",
            filter="*.json *.geojson",
            tooltip="empty: the project's regions.json; or a GeoJSON of annotation polygons "
            "(QuPath: File > Export objects as GeoJSON, Annotations)",
        )
        self.load_regions_button = PushButton(text="Load regions (file, else the project's)")
        self.truth_file = FileEdit(
            label="Truth: gated cell table",
            mode="r",
            filter=TABLE_FILTER,
            tooltip="empty: the project's review (reviewed labels where a person gave one)",
        )
        self.held_out = FileEdit(
            label="Held out: learnt by",
            mode="d",
            tooltip="our classifier's model folder (it records the cells it learnt from) or the patch data set it "
            "was trained on: those cells are left out of the truth, for every model, so ours is not scored on "
            "cells it was trained on; empty: every cell",
        )
        self.model = ModelFileForm()  # another model's output file and how to read it
        self.ours_file = FileEdit(label="Our predictions table", mode="r", filter=TABLE_FILTER)
        self.add_ours_button = PushButton(text="Add our classifier")
        self.models_label = Label(value="Models: none")
        self.clear_models_button = PushButton(text="Clear models")
        matching = settings_fields(
            CompareSettings,
            only=("match", "radius_um"),
            labels={"match": "Match cells by", "radius_um": "Match radius (µm)"},
            choices={"match": (("centroid distance", "centroid"), ("mask IoU > 0.5", "iou"))},
            ranges={"radius_um": (0.1, 50.0, 0.1)},
        )
        self.match, self.radius = matching["match"], matching["radius_um"]
        self.truth_labels = FileEdit(
            label="Truth nuclei (store folder)",
            mode="d",
            tooltip="the truth's masks for IoU matching; default: the slide's label store (a label TIFF's path can be typed in)",
        )
        self.match.changed.connect(self._show_match_fields)
        self.no_truth = CheckBox(text="No truth: model-vs-model agreement", value=False)
        self.no_truth.changed.connect(self._show_match_fields)
        self.compare_button = PushButton(text="Compare in regions")
        self.table = Table(value={"data": [], "index": [], "columns": []})
        self.legend = Label(value="")
        self.out_dir = FileEdit(label="Report folder", mode="d")
        self.save_button = PushButton(text="Save report (CSV, Markdown, chart)")
        self.status = Label(value="Draw rectangles or polygons in the 'regions' layer, then name them.")
        super().__init__(
            widgets=[
                self.region_name,
                self.name_button,
                self.save_regions_button,
                self.regions_file,
                self.load_regions_button,
                self.truth_file,
                self.held_out,
                *self.model.widgets,
                self.ours_file,
                self.add_ours_button,
                self.models_label,
                self.clear_models_button,
                self.match,
                self.truth_labels,
                self.radius,
                self.no_truth,
                self.compare_button,
                self.legend,
                self.table,
                self.out_dir,
                self.save_button,
                self.status,
            ]
        )
        self.status.native.setWordWrap(True)
        self.legend.native.setWordWrap(True)
        self.max_width = 460
        self.name_button.changed.connect(self.name_selected)
        self.save_regions_button.changed.connect(self.save_regions)
        self.load_regions_button.changed.connect(lambda: self.load_regions(given_path(self.regions_file)))
        self.model.add_button.changed.connect(self.add_model)
        self.add_ours_button.changed.connect(self.add_ours)
        self.clear_models_button.changed.connect(self.clear_models)
        self.compare_button.changed.connect(lambda: self.compare())
        self.save_button.changed.connect(self.save_report)
        self.state = workflow_state(napari_viewer)
        self._held_out_filled = None
        self.state.changed.connect(self._on_state_changed)
        self._on_state_changed(SLIDES)
        self._show_match_fields()
        self.on_shown()

    def _show_match_fields(self, _=None) -> None:
        """The truth's masks are asked for only when cells are matched by mask, and what to hold
        out of it only when there is a truth."""
        self.truth_labels.visible = self.match.value == "iou"
        self.held_out.visible = not self.no_truth.value

    def on_shown(self) -> None:
        """A layer to draw regions in, once there is a slide, its colour readable on what is shown."""
        if slide_layer(self.viewer) is not None:
            recolour_regions(self.regions_layer(), self.viewer)

    def _on_state_changed(self, what: str) -> None:
        """The project's gated table (truth), predictions (ours) and saved regions come with the slide."""
        if what in (SLIDES, GATED):
            set_path(self.truth_file, self.state.existing("gated_table"))
        if what in (SLIDES, PREDICTIONS):
            set_path(self.ours_file, self.state.existing("predictions"))
        if what in (SLIDES, LABELS):
            set_path(self.truth_labels, self.state.existing("labels"))
        if what == SLIDES or (what == PREDICTIONS and given_path(self.held_out) == self._held_out_filled):
            self._held_out_filled = self.state.learnt_by()  # ours is not scored on what it learnt from
            set_path(self.held_out, self._held_out_filled)  # (not after the user changed or cleared it)
        if what == SLIDES:
            self.clear_models()  # another slide's model outputs are not this one's
        if what == SLIDES and slide_layer(self.viewer) is not None:
            drawn = find_regions_layer(self.viewer)
            if drawn is not None:  # made before the slide (by a script, or kept): drawn on top of it
                self.viewer.layers.move(self.viewer.layers.index(drawn), len(self.viewer.layers))
            set_path(self.out_dir, self.project_folder() / "exports")
            saved = (self.project_folder() / "regions.json").is_file()
            if saved and not len(self.regions_layer().data):
                self.load_regions(None)  # the project's saved regions come back with the slide

    # --- regions -------------------------------------------------------------------------------
    @property
    def pixel_size_um(self) -> float:
        layer = slide_layer(self.viewer)
        return float(layer.scale[-1]) if layer is not None else 0.325

    def regions_layer(self):
        return regions_layer(self.viewer, self.pixel_size_um, self.slide_path)

    @property
    def slide_path(self) -> str:
        layer = slide_layer(self.viewer)
        if layer is None:
            raise ValueError("open the slide (Loader) first: regions are drawn on it and saved in its project folder")
        return layer.metadata[PLUGIN_KEY]["path"]

    def project_folder(self) -> Path:
        from napari_ifcell.io.project import project_folder

        return project_folder(self.slide_path)

    def name_selected(self) -> None:
        try:
            layer = self.regions_layer()
        except ValueError as exc:
            return self._on_error(exc)
        name = self.region_name.value.strip()
        if not layer.selected_data or not name:
            self.status.value = "Select a region in the 'regions' layer and type a name."
            return
        if len(layer.selected_data) > 1:  # regions are scored by name: two of one name would be refused later
            self.status.value = f"{len(layer.selected_data)} regions are selected; select one to name."
            return
        names = layer.features["name"].astype(object).to_numpy().copy()
        if name in set(names[[i for i in range(len(names)) if i not in layer.selected_data]]):
            self.status.value = f"Another region is already called {name!r}."
            return
        names[next(iter(layer.selected_data))] = name
        layer.features = {"name": names}
        layer.refresh_text()
        self.status.value = f"Region named {name!r}."

    def save_regions(self) -> None:
        from napari_ifcell.io.regions import save_regions

        try:
            path = save_regions(
                layer_regions(self.regions_layer(), self.pixel_size_um),
                self.project_folder(),
                pixel_size_um=self.pixel_size_um,
            )
            self.status.value = f"Regions saved to {path}"
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self._on_error(exc)

    def load_regions(self, path: Path | None) -> None:
        """Regions from ``path`` (ours or QuPath's GeoJSON), else from the project, into the layer."""
        from napari_ifcell.io.regions import load_regions

        try:
            with recording_notes() as notes:
                regions = load_regions(path or self.project_folder(), pixel_size_um=self.pixel_size_um)
            set_layer_regions(self.regions_layer(), regions)
            said = f"Loaded {len(regions)} region{'s' if len(regions) != 1 else ''}."
            self.status.value = " ".join([said, *notes])
        except Exception as exc:  # noqa: BLE001
            self._on_error(exc)

    # --- models --------------------------------------------------------------------------------
    def add_model(self) -> None:
        path = self._new_model_file(self.model.file, "Model output")
        if path is None:
            return
        name = self.model.name.value.strip() or path.stem
        if name in self.sources:
            self.status.value = f"A model called {name!r} is added already: give this one another Model name."
            return
        try:  # the model ran on the H&E: its cells move by the Loader's registration offset
            self.sources[name] = self.model.source(path, he_offset_um(self.viewer))
        except ValueError as exc:
            return self._on_error(exc)
        self.model.added()
        self._show_models()
        self.status.value = f"Added {name!r} ({path.name}); it is read and checked when you press Compare."

    def add_ours(self) -> None:
        path = self._new_model_file(self.ours_file, "Our predictions table")
        if path is None:
            return
        name = "ours" if "ours" not in self.sources else f"ours ({path.stem})"
        self.sources[name] = path
        self._show_models()
        self.status.value = f"Added {name!r} ({path.name}); it is read and checked when you press Compare."

    def _new_model_file(self, field, label: str) -> Path | None:
        """The file (or a .zarr folder) in ``field`` when there is one and it is not already a
        model; else None, and the status says why."""
        path = given_path(field)
        if path is None or not path.exists():
            self.status.value = f"{label}: choose a file first" + (f" ({path}: no such file)" if path else "")
            return None
        for name, source in self.sources.items():
            if Path(getattr(source, "path", source)).resolve() == path.resolve():
                self.status.value = f"{path.name} is already a model ({name!r})."
                return None
        return path

    def clear_models(self) -> None:
        self.sources.clear()
        self._show_models()

    def _show_models(self) -> None:
        self.models_label.value = "Models: " + (", ".join(self.sources) or "none")

    # --- comparing -----------------------------------------------------------------------------
    def compare(self, *, sync: bool | None = None):
        from napari_ifcell.pipeline.compare import (
            compare_models,
            comparison_about,
            held_out_truth,
            ids_checked,
            read_models,
            read_truth,
        )

        try:
            regions = layer_regions(self.regions_layer(), self.pixel_size_um)
            if not regions:
                raise ValueError("draw at least one rectangle or polygon in the 'regions' layer")
            if not self.sources:
                raise ValueError("add at least one model (a file, or our classifier's predictions)")
            truth_path, sources, ps, radius, held_out = (
                str(self.truth_file.value),
                dict(self.sources),
                self.pixel_size_um,
                self.radius.value,
                None if self.no_truth.value else given_path(self.held_out),
            )
            shape = tuple(self.state.slide.shape) if self.state.slide is not None else None
            # no table given (an empty file field reads as a folder): the project's review state
            no_table = truth_path in ("", ".") or Path(truth_path).is_dir()
            truth_source = self.project_folder() if no_table else truth_path
            match, labels = self.match.value, None
            if match == "iou" and not self.no_truth.value:
                labels = given_path(self.truth_labels) or self.state.existing("labels")
                if labels is None:
                    raise ValueError(
                        "mask IoU matching needs the truth's nuclei: segment the slide first, "
                        "or choose a label store folder or label TIFF"
                    )
        except Exception as exc:  # noqa: BLE001
            return self._on_error(exc)
        self.status.value = "Comparing..."
        if self.no_truth.value:

            def agree():
                from napari_ifcell.core.compare.agreement import model_agreement

                return model_agreement(regions, read_models(sources, ps, shape), um_per_px=ps, radius_um=radius)

            return run_in_background(agree, on_done=self._on_agreement, on_error=self._on_error, sync=sync)

        truth_name = "the project's review" if no_table else truth_path

        def work():
            with recording_notes() as notes:  # what the model files made us guess, for the status
                truth, models = read_truth(truth_source), read_models(sources, ps, shape)
                if held_out is not None:
                    truth = held_out_truth(truth, held_out)
                models = ids_checked(truth, models, um_per_px=ps, radius_um=radius)
            result = compare_models(
                regions,
                truth,
                models,
                um_per_px=ps,
                radius_um=radius,
                match=match,
                labels=labels,
                truth_name=truth_name,
            )
            settings = CompareSettings(radius_um=radius, match=match)
            about = comparison_about(truth, models, truth_name=truth_name, settings=settings, um_per_px=ps)
            return result, truth, models, match, notes, [*about, *(f"Note: {n}" for n in notes)]

        return run_in_background(work, on_done=self._on_compared, on_error=self._on_error, sync=sync)

    def _show_table(self, table) -> None:
        shown = table.copy()
        for column in shown.columns[1:]:
            if shown[column].dtype.kind == "f":  # n/a where a score had nothing to count, as in the report
                shown[column] = shown[column].round(3).astype(object).where(shown[column].notna(), "n/a")
        self.table.value = {
            "data": shown.to_numpy().tolist(),
            "index": list(range(len(shown))),
            "columns": list(shown.columns),
        }

    def _on_agreement(self, table) -> None:
        self.report, self.counts, self.about = table, None, []
        self._show_table(table)
        self._remove_outcome_layers()  # without a truth there are no TP / FP / FN to show
        self.legend.value = ""
        total = table[table["region"] == "Total"]
        self.status.value = "Cells matched by centroid; " + "; ".join(
            f"{r.model_a} vs {r.model_b}: {r.matched} of {r.cells_a} / {r.cells_b} cells matched, kappa {r.kappa:.3f}"
            for r in total.itertuples()
        )

    def _on_compared(self, result) -> None:
        (self.report, self.counts, outcomes), truth, models, match, notes, self.about = result
        self._show_table(self.report)
        self._remove_outcome_layers()  # an earlier comparison's, of models perhaps cleared since
        symbols = {}
        against = "IF" if truth.attrs.get("complete", True) else "review"  # the layers say what the truth is
        for i, (name, (t_out, p_out)) in enumerate(outcomes.items()):
            symbols[name] = MODEL_SYMBOLS[i % len(MODEL_SYMBOLS)]
            shown = {"symbol": symbols[name], "size": 10 + 4 * i}
            self._overlay(f"{name} vs {against}", name, truth, models[name], t_out, p_out, **shown)
        self.legend.value = (
            legend_html([(o, OUTCOME_COLOURS[o]) for o in OVERLAY_OUTCOMES], title="Points")
            + "<br>"
            + legend_html([(f"{m}: {s.replace('_up', '')}", "#bbbbbb") for m, s in symbols.items()], title="Models")
        )
        total = self.report.iloc[-1]
        self.status.value = (
            "; ".join(f"{m}: lymphocyte F1 {score_text(total[f'{m} lymphocyte F1'])}" for m in models)
            + " (total)"
            + "; "
            + matching_summary(models, match)
            + "".join(f"\nNote: {n}" for n in notes)
        )

    def _overlay(self, layer_name, name, truth, predicted, t_out, p_out, *, symbol="disc", size=10.0) -> None:
        """Points per model: its TP and FP where it put them, the missed true cells (FN); each
        model its own symbol and size, so two models at one cell are told apart."""
        code_name = {v: k for k, v in OUTCOME_CODES.items()}
        p_keep, t_keep = p_out > 0, t_out == OUTCOME_CODES["FN"]
        points = np.concatenate(
            [predicted[["y", "x"]].to_numpy(float)[p_keep], truth[["y", "x"]].to_numpy(float)[t_keep]]
        )
        outcome = [code_name[c] for c in p_out[p_keep]] + ["FN"] * int(t_keep.sum())
        ps = self.pixel_size_um
        self.viewer.add_points(
            points.reshape(-1, 2),
            name=layer_name,
            scale=(ps, ps),
            units=("µm", "µm"),
            size=size,
            # zoomed out to a whole region, points never shrink below a few screen pixels, and
            # each model keeps its own size there too
            canvas_size_limits=(size / 2, 10_000),
            symbol=symbol,
            features={"outcome": np.asarray(outcome, dtype=object)},
            border_width=0,
            face_color=(colours := [OUTCOME_COLOURS[o] for o in outcome] or "white"),
            border_color=colours,  # napari draws a grey border around points enlarged to their minimum size
            metadata={PLUGIN_KEY: {"role": "comparison", "model": name}},
        )

    def _remove_outcome_layers(self) -> None:
        ours = [x for x in self.viewer.layers if x.metadata.get(PLUGIN_KEY, {}).get("role") == "comparison"]
        remove_layers(self.viewer, ours)

    def save_report(self) -> None:
        from napari_ifcell.io.comparison_report import write_report

        try:
            if self.report is None:
                raise ValueError("compare first")
            folder = Path(self.out_dir.value) if str(self.out_dir.value) not in ("", ".") else self.project_folder()
            if "model_a" in self.report.columns:  # model-vs-model agreement
                from napari_ifcell.io.comparison_report import write_agreement

                self.status.value = f"Saved {write_agreement(self.report, folder)}"
                return
            written = write_report(self.report, folder, counts=self.counts, about=self.about)
            self.status.value = "Saved " + ", ".join(p.name for p in written.values()) + f" in {folder}"
        except Exception as exc:  # noqa: BLE001
            self._on_error(exc)

    def _on_error(self, exc: Exception):
        self.status.value = f"Error: {exc}"
        return None

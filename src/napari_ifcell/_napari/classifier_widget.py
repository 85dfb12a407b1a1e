"""Classifier dock widget: train, predict the cells you look at, and see where the H&E-only
model agrees with the IF truth (TP / FP / FN / TN at a confidence threshold); on an H&E slide
alone, the cells of its label store coloured by predicted class, saved and exported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, FloatSlider, Label, ProgressBar, PushButton

from napari_ifcell._napari.busy import Busy
from napari_ifcell._napari.classifier_training import TrainingSection
from napari_ifcell._napari.layers import PLUGIN_KEY, redraw_lookup
from napari_ifcell._napari.palette import OUTCOME_COLOURS, class_palette, legend_html
from napari_ifcell._napari.sources import TABLE_FILTER, given_path, nuclei_field, open_sources, set_path
from napari_ifcell._napari.state import GATED, LABELS, PREDICTIONS, SLIDES, workflow_state
from napari_ifcell._napari.torch_guard import keep_triton_out
from napari_ifcell._napari.view import visible_region_px
from napari_ifcell.core.classify.outcomes import (
    OUTCOMES,
    outcome_counts,
    outcome_scores,
    outcome_targets,
    outcomes,
    truth_and_probability,
)


class ClassifierWidget(Container):
    def __init__(self, napari_viewer):

        keep_triton_out()
        self.viewer = napari_viewer
        self.state = workflow_state(napari_viewer)
        self.table = None
        self.config = None
        self.model = None
        self.unseen = None  # per cell of the table: the model did not learn from it (it is scored)
        self.scored_line = ""
        self.layer = None
        self.lut = np.zeros(1, np.uint8)
        self.status = Label(value="")
        self.cancel_button = PushButton(text="Cancel")
        self.busy = Busy(self.cancel_button, self._report)
        self.table_file = FileEdit(
            label="Gated cell table",
            mode="r",
            filter=TABLE_FILTER,
            tooltip="leave empty to classify the cells of the slide's label store (an H&E slide alone)",
        )
        self.labels_file = nuclei_field(
            "Nuclei (store or TIFF)", "default: the slide's store; or a label image (File...)"
        )
        self.progress = ProgressBar(label="Progress", min=0, max=1, value=0)
        self.training = TrainingSection(
            napari_viewer,
            self.state,
            cells=self._cells,
            report=self._report,
            on_progress=self._on_progress,
            busy=self.busy,
        )
        self.dataset_dir, self.model_dir = self.training.dataset_dir, self.training.model_dir
        self.training_fields = self.training.training_fields
        self.visible_button = PushButton(text="Predict visible region")
        self.all_button = PushButton(text="Predict whole slide")
        # choices from a callable: napari calls reset_choices() whenever layers change, which
        # would put a static list back to its initial (empty) value
        self._target_names: list[str] = []
        self.target = ComboBox(label="Show", choices=lambda _widget: self._target_names)
        self.threshold = FloatSlider(label="Confidence threshold", min=0.0, max=1.0, step=0.01, value=0.5)
        self.show_tn = CheckBox(text="Show true negatives", value=False)
        self.legend = Label(value="")
        self.metrics = Label(value="")
        self.save_button = PushButton(text="Save metrics CSV")
        self.export_button = PushButton(text="Export predictions (GeoJSON, AnnData, CSV)")
        self.slide = None
        self.busy.guard(self.visible_button, self.all_button)
        super().__init__(
            widgets=[
                self.table_file,
                self.labels_file,
                self.training,
                self.visible_button,
                self.all_button,
                self.target,
                self.threshold,
                self.show_tn,
                self.progress,
                self.cancel_button,
                self.legend,
                self.metrics,
                self.save_button,
                self.export_button,
                self.status,
            ]
        )
        for label in (self.legend, self.metrics, self.status):
            label.native.setWordWrap(True)
        self.max_width = 420
        self.visible_button.changed.connect(lambda: self.predict(visible=True))
        self.all_button.changed.connect(lambda: self.predict(visible=False))
        for w in (self.target, self.threshold, self.show_tn):
            w.changed.connect(self._show_outcomes)
        self.save_button.changed.connect(self.save_metrics)
        self.export_button.changed.connect(self.export_predictions)
        self.state.changed.connect(self._on_state_changed)
        self._on_state_changed(SLIDES)

    def _show_truth_fields(self, shown: bool) -> None:
        """The outcome picker, threshold and metrics only mean something against an IF truth:
        an H&E slide alone never shows them."""
        for widget in (self.target, self.threshold, self.show_tn, self.save_button):
            widget.visible = shown

    def train(self, *, sync: bool | None = None):
        return self.training.train(sync=sync)

    def _on_state_changed(self, what: str) -> None:
        """The project's gated table, nuclei, data set and model folders fill the fields."""
        if what == SLIDES:  # another slide: the previous one's predictions, legend and metrics go
            self.table = None
            self.legend.value = self.metrics.value = ""
            self._show_truth_fields(False)
        if what in (SLIDES, GATED):
            set_path(self.table_file, self.state.existing("gated_table"))
        if what in (SLIDES, LABELS):
            set_path(self.labels_file, self.state.existing("labels"))
        self.training.on_state_changed(what)

    def _cells(self):
        """(gated table path or None, nuclei) for cutting a data set."""
        labels = given_path(self.labels_file) or self.state.existing("labels")
        if labels is None:
            raise ValueError("Nuclei: segment the slide first, or choose a label store folder or label TIFF")
        return given_path(self.table_file), labels

    def _report(self, message: str) -> None:
        self.status.value = message

    # --- prediction ----------------------------------------------------------------------------
    def predict(self, *, visible: bool, sync: bool | None = None):
        try:
            if_slide, pair = open_sources(self.viewer, need_he=True)
            self.slide = if_slide
            region = visible_region_px(self.viewer, if_slide.pixel_size_um, if_slide.shape) if visible else None
            table_path, store = given_path(self.table_file), self._store_folder()
        except Exception as exc:  # noqa: BLE001 - shown to the user
            return self._on_error(exc)
        self.status.value = "Checking the table against the label store and loading the model..."
        source = pair if pair is not None else if_slide  # an H&E slide alone is its own source
        return self.busy.run_steps(
            _load_and_predict(source, table_path, self.model_dir.value, store, region),
            on_progress=self._on_progress,
            on_done=self._on_predicted,
            on_error=self._on_error,
            sync=sync,
        )

    def _store_folder(self) -> Path:
        """The nuclei: the file or folder given, else the slide's own label store."""
        from napari_ifcell.io.project import Project

        return given_path(self.labels_file) or Project.for_slide(self.slide.path).labels

    @property
    def has_truth(self) -> bool:
        return self.table is not None and "phenotype" in self.table.columns

    def _on_predicted(self, result) -> None:
        from napari_ifcell.io.project import Project
        from napari_ifcell.pipeline.classify import predicted_rows, save_predictions

        if result is None:
            self.status.value = "Prediction cancelled; nothing was saved."
            return
        table, self.model, self.config, model_dir = result
        n = int(predicted_rows(table).sum())
        path = Project.for_slide(self.slide.path).predictions  # where Review and Compare find them
        try:
            self.table = save_predictions(table, path)
        except Exception as exc:  # noqa: BLE001 - the predictions stay on screen; the failure is said
            self.table = table
            self.status.value = f"Predicted {n} cells, but not saved: {exc}"
        else:
            self.status.value = f"Predicted {n} cells; saved to {path}."
            self.state.announce(PREDICTIONS)
        self._show_truth_fields(self.has_truth)
        if not self.has_truth:  # an H&E slide alone: cells coloured by predicted class
            self._add_layer(by_class=True)
            self._show_classes()
            return
        self.unseen, self.scored_line = self._unseen_cells(model_dir)
        names = outcome_targets(self.config)
        self._target_names = names
        with self.target.changed.blocked():
            self.target.reset_choices()
            self.target.value = "lymphocytes" if "lymphocytes" in names else names[0]
        self._add_layer()
        self._show_outcomes()

    def export_predictions(self) -> None:
        """GeoJSON (QuPath), AnnData and CSV of the predictions in the slide's exports folder."""
        from napari_ifcell.io.label_store import LabelStore
        from napari_ifcell.io.project import Project, slide_name
        from napari_ifcell.pipeline.classify import export_predictions

        try:
            if self.table is None:
                raise ValueError("predict first")
            project = Project.for_slide(self.slide.path)
            folder = self._store_folder()
            store = LabelStore.open_if_present(folder)
            name = slide_name(self.slide.path)
            written = [
                export_predictions(
                    self.table,
                    project.exports / f"{name}_predictions{ext}",
                    store=store,
                    image_id=name,
                    pixel_size_um=self.slide.pixel_size_um,
                )
                for ext in (".geojson", ".h5ad", ".csv")
            ]
            self.status.value = "Exported: " + ", ".join(p.name for p in written) + f" in {project.exports}"
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self._on_error(exc)

    def _show_classes(self) -> None:
        """Cells coloured by predicted class; the legend with each class's count."""
        predicted = self.table["predicted"]
        codes = predicted.map({c: i + 1 for i, c in enumerate(self.config.classes)}).fillna(0).to_numpy(np.uint8)
        self.lut[:] = 0
        self.lut[self.table["CellID"].to_numpy()] = codes
        redraw_lookup(self.layer)
        counts = predicted.value_counts()
        self.legend.value = ""  # the truth outcomes' legend of an earlier prediction
        palette = class_palette(self.config.classes)
        rows = [legend_html([(f"{c}: {counts.get(c, 0)}", palette[c])]) for c in self.config.classes]
        self.metrics.value = "Predicted class<br>" + "<br>".join(rows)

    def _unseen_cells(self, model_dir: Path):
        """The cells the model did not learn from (the ones scored), and a line saying which."""
        from napari_ifcell.pipeline.classify import unseen_cells

        try:
            return unseen_cells(self.table, model_dir)
        except Exception as exc:  # noqa: BLE001 - the record is unreadable: every cell, and why
            return np.ones(len(self.table), bool), f"every cell scored ({exc})"

    def truth_and_probability(self, target: str):
        """Per cell: IF-derived truth (1 / 0 / -1 unknown; unknown too where the model learnt
        from the cell, so that it is not scored on it) and the model's probability."""
        truth, prob = truth_and_probability(self.table, self.config, target)
        return np.where(self.unseen, truth, -1), prob

    def _add_layer(self, *, by_class: bool = False) -> None:
        from napari.utils.colormaps import DirectLabelColormap

        from napari_ifcell.core.display import LookupView
        from napari_ifcell.pipeline.tiling import NucleiLevels

        levels = NucleiLevels(self._store_folder()).levels
        ps = float(self.slide.pixel_size_um) if self.slide is not None else 1.0
        self.lut = np.zeros(int(self.table["CellID"].max()) + 1, np.uint8)
        if by_class:
            palette = class_palette(self.config.classes)
            colours = {
                None: "transparent",
                0: "transparent",
                **{i + 1: palette[c] for i, c in enumerate(self.config.classes)},
            }
        else:
            colours = {
                None: "transparent",
                0: "transparent",
                **{i + 1: OUTCOME_COLOURS.get(o, "transparent") for i, o in enumerate(OUTCOMES)},
            }
        if self.layer is not None and self.layer in self.viewer.layers:
            self.viewer.layers.remove(self.layer)
        data = [LookupView(level, self.lut) for level in levels]
        self.layer = self.viewer.add_labels(
            data if len(data) > 1 else data[0],
            name="predicted class" if by_class else "classifier vs IF",
            multiscale=len(data) > 1,
            scale=(ps, ps),
            units=("µm", "µm"),
            colormap=DirectLabelColormap(color_dict=colours),
            metadata={PLUGIN_KEY: {"role": "classifier"}},
        )

    def _show_outcomes(self, *_) -> None:
        if not self.has_truth or not self.target.value:
            return
        truth, prob = self.truth_and_probability(self.target.value)
        codes = outcomes(truth, np.nan_to_num(prob, nan=0.0), threshold=self.threshold.value)
        shown = codes + 1
        shown[codes == OUTCOMES.index("no truth")] = 0
        if not self.show_tn.value:
            shown[codes == OUTCOMES.index("TN")] = 0
        self.lut[:] = 0
        self.lut[self.table["CellID"].to_numpy()] = shown
        redraw_lookup(self.layer)
        counts = outcome_counts(codes)
        scores = outcome_scores(counts)
        shown_outcomes = ("TP", "FP", "FN", "TN") if self.show_tn.value else ("TP", "FP", "FN")
        self.legend.value = legend_html([(o, OUTCOME_COLOURS[o]) for o in shown_outcomes], title="Cells")
        if not sum(counts[o] for o in ("TP", "FP", "FN", "TN")):
            self.metrics.value = (
                f"{self.target.value}: no predicted cell with an IF label left to score; {self.scored_line}"
            )
            return
        self.metrics.value = (
            f"{self.target.value} at {self.threshold.value:.2f}: "
            f"TP {counts['TP']}, FP {counts['FP']}, FN {counts['FN']}, TN {counts['TN']}; "
            f"precision {scores['precision']:.3f}, recall {scores['recall']:.3f}, F1 {scores['f1']:.3f}; "
            f"{self.scored_line}"
        )

    def save_metrics(self) -> None:
        from napari_ifcell.pipeline.classify import evaluate_cells

        try:
            path = Path(self.model_dir.value) / "metrics.csv"
            if self.table is None:
                raise ValueError("predict first")
            evaluate_cells(self.table[self.unseen], self.config).to_csv(path, index=False)
            self.status.value = f"Metrics saved to {path}"
        except Exception as exc:  # noqa: BLE001
            self._on_error(exc)

    def _on_progress(self, step) -> None:
        stage, i, n = step
        if stage == "loaded":  # the table checked, the model loaded: the cells come next
            self.status.value = "Predicting..."
            return
        self.progress.max = max(n, 1)
        self.progress.value = i

    def _on_error(self, exc: Exception):
        self.status.value = f"Error: {exc}"
        return None


def _load_and_predict(source, table_path, model_dir, store, region):
    """Prediction's steps, all off the GUI thread: the table checked against the label store
    (it reads the store: about a second on a million cells) and the model loaded, then the
    cells predicted. Returns ``(predictions, model, config, model folder)``."""
    from napari_ifcell.pipeline.classify import load_prediction_inputs, predict_cells_steps, with_model

    table, model, config = load_prediction_inputs(table_path, model_dir, need_truth=False, store=store)
    yield "loaded", 0, 0
    predicted = yield from predict_cells_steps(source, table, model, config, region=region)
    return with_model(predicted, model_dir), model, config, Path(model_dir)

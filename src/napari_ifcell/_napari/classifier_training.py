"""The Classifier widget's first half: cut a patch data set from the gated cells, train on it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from magicgui.widgets import Container, FileEdit, PushButton, SpinBox

from napari_ifcell._napari.settings_form import settings_fields, settings_from_fields
from napari_ifcell._napari.sources import given_path, open_sources, set_path
from napari_ifcell._napari.state import SLIDES
from napari_ifcell.notes import recording_notes


class TrainingSection(Container):
    """Patch data set (task, input, patch size, cells per class) and training settings.

    ``cells()`` gives the gated table's path (or None) and the nuclei's; ``report`` shows a
    message, ``on_progress`` drives the widget's progress bar; ``busy`` runs the work, one job
    at a time for the whole widget.
    """

    def __init__(self, viewer, state, *, cells: Callable, report: Callable[[str], None], on_progress: Callable, busy):
        from napari_ifcell.core.classify.model import INPUTS, TASKS, ClassifierConfig

        self.viewer, self.state = viewer, state
        self._cells, self._report, self._on_progress, self.busy = cells, report, on_progress, busy
        self.dataset_dir = FileEdit(label="Patch data set", mode="d")
        self.dataset_fields = settings_fields(
            ClassifierConfig,
            only=("task", "input", "patch_size"),
            choices={"task": TASKS, "input": tuple(INPUTS)},
            ranges={"patch_size": (16, 512, 8)},
            labels={"input": "Model input", "patch_size": "Patch size (px)"},
        )
        self.n_cells = SpinBox(label="Cells per class", min=10, max=1_000_000, step=100, value=5000)
        self.export_button = PushButton(text="Export patch data set")
        self.model_dir = FileEdit(label="Model folder", mode="d")
        self.training_fields = settings_fields(
            ClassifierConfig,
            only=("epochs", "batch_size", "learning_rate"),
            ranges={"epochs": (1, 1000, 1), "batch_size": (1, 4096, 1), "learning_rate": (1e-6, 1.0, 1e-4)},
        )
        self.training_fields["learning_rate"].native.setDecimals(5)
        self.train_button = PushButton(text="Train on the data set")
        super().__init__(
            widgets=[
                self.dataset_dir,
                *self.dataset_fields.values(),
                self.n_cells,
                self.export_button,
                self.model_dir,
                *self.training_fields.values(),
                self.train_button,
            ],
            labels=True,
        )
        self.margins = (0, 0, 0, 0)
        busy.guard(self.export_button, self.train_button)
        self.export_button.changed.connect(self.export_dataset)
        self.train_button.changed.connect(self.train)
        self.dataset_dir.changed.connect(self._show_dataset_config)

    def on_state_changed(self, what: str) -> None:
        """A newly opened slide's project gives the data set and model folders."""
        if what == SLIDES:
            project = self.state.project
            set_path(self.dataset_dir, project.dataset if project is not None else None)
            set_path(self.model_dir, project.model() if project is not None else None)
            self._show_dataset_config()

    # --- the data set ---------------------------------------------------------------------
    def export_dataset(self, *, sync: bool | None = None):
        """Patches of the gated cells from the H&E (and masks from the nuclei) into the data set folder."""
        from napari_ifcell.core.classify.model import ClassifierConfig

        try:
            table_path, labels = self._cells()
            if table_path is None:
                raise ValueError("Gated cell table: gate the cells first (Gating saves it) or choose the table")
            _, pair = open_sources(self.viewer, need_he=True)
            if pair is None:
                raise ValueError("a patch data set needs the IF truth and its H&E: open both in the Loader")
            out = given_path(self.dataset_dir)
            if out is None:
                raise ValueError("Patch data set: choose the folder to write it to")
            config = settings_from_fields(self.dataset_fields, ClassifierConfig())
            if config.problems():
                raise ValueError("; ".join(config.problems()))
        except Exception as exc:  # noqa: BLE001 - shown to the user
            self._report(f"Error: {exc}")
            return None
        n = self.n_cells.value

        def work():
            from napari_ifcell.pipeline.dataset import export_dataset, read_gated_table

            table = read_gated_table(table_path)
            with recording_notes() as notes:  # a split left without cells, said in the status
                index = export_dataset(pair, table, labels, out, config=config, n=n, table_name=str(table_path))
            return index, notes

        self._report(f"Cutting patches of up to {n} cells per class...")
        return self.busy.run(work, on_done=lambda done: self._on_exported(*done, out), on_error=self._error, sync=sync)

    def _on_exported(self, index, notes: list[str], out: Path) -> None:
        splits = ", ".join(f"{k} {v}" for k, v in index["split"].value_counts().items())
        self._report(" ".join([f"{len(index)} cells exported to {out} ({splits}).", *(f"Note: {n}" for n in notes)]))
        set_path(self.dataset_dir, out)
        self._show_dataset_config()

    def _show_dataset_config(self, *_) -> None:
        """The training fields start from the chosen data set's own config."""
        from napari_ifcell.pipeline.classify import dataset_config

        folder = given_path(self.dataset_dir)
        if folder is None or not (folder / "config.json").is_file():
            return
        config = dataset_config(folder)
        for name, field in self.training_fields.items():
            field.value = getattr(config, name)

    # --- training ------------------------------------------------------------------------------
    def train(self, *, sync: bool | None = None):
        dataset, out = given_path(self.dataset_dir), given_path(self.model_dir)
        if dataset is None or not (dataset / "config.json").is_file():
            self._report(f"Error: {dataset or 'Patch data set'}: no data set there; export one first")
            return None
        if out is None:
            self._report("Error: Model folder: choose where to save the model")
            return None

        def steps():
            from napari_ifcell.pipeline.classify import dataset_config, train_on_dataset_steps

            config = settings_from_fields(self.training_fields, dataset_config(dataset))
            _, _, history, _ = yield from train_on_dataset_steps(dataset, out, config=config)
            return f"Trained {len(history)} epochs; saved to {out}."

        self._report("Training...")
        return self.busy.run_steps(
            steps(), on_progress=self._on_progress, on_done=self._on_trained, on_error=self._error, sync=sync
        )

    def _on_trained(self, message) -> None:
        self._report(message or "Training cancelled; no model was saved.")

    def _error(self, exc: Exception) -> None:
        self._report(f"Error: {exc}")

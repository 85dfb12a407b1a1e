"""The Gating widget's gate files: save, load (scimap's CSV imported into the project's gate
file) and the gates saved for the slide taken up when its table loads."""

from __future__ import annotations

from pathlib import Path

from napari_ifcell._napari.sources import given_path


class GateFiles:
    """Gate-file actions of :class:`GatingWidget` (its session, fields and status line)."""

    def _use_saved_gates(self) -> bool:
        """Carry on with the gates saved for this slide (the gate file), when there are any."""
        from napari_ifcell.io.gate_file import load_gates

        path = given_path(self.gates_file)
        if path is None or not path.is_file():
            return False
        try:
            self.session.use_gates(load_gates(path, columns=self.session.table.columns))
        except Exception as exc:  # noqa: BLE001 - reported; the suggestions stay
            self.status.setText(f"{path}: not used ({exc}); gates suggested instead")
            return False
        self._keep_gates_in_a_gate_file(path)
        return True

    def save_gates(self) -> None:
        from napari_ifcell.io.gate_file import save_gates

        if self.session is None:
            return self._on_error(ValueError("no cell table yet: Quantify cells or Load cell table first"))
        try:
            path = save_gates(self.session.gates, Path(self.gates_file.value))
            self.status.setText(f"Gates saved to {path}")
        except Exception as exc:  # noqa: BLE001 - reported, the session is untouched
            self._on_error(exc)

    def load_gates(self) -> None:
        from napari_ifcell.io.gate_file import load_gates
        from napari_ifcell.notes import recording_notes

        if self.session is None:
            return self._on_error(ValueError("no cell table yet: Quantify cells or Load cell table first"))
        try:
            with recording_notes() as notes:  # rules left out for want of a gate, said in the status
                self.session.use_gates(load_gates(Path(self.gates_file.value), columns=self.session.table.columns))
        except Exception as exc:  # noqa: BLE001 - reported; the current gates stay
            self._on_error(exc)
            return
        self._show_gates()
        said = self._keep_gates_in_a_gate_file(Path(self.gates_file.value))
        self.status.setText(" ".join([said, *(f"Note: {n}" for n in notes)]))
        self._gates_changed()

    def _keep_gates_in_a_gate_file(self, loaded: Path) -> str:
        """scimap's CSV is imported, not written back: later edits go to the project's gate file."""
        if loaded.suffix.lower() != ".csv":
            return f"Gates loaded from {loaded}"
        project = self.state.project
        target = project.gates if project is not None else loaded.with_suffix(".yaml")
        self.gates_file.value = target
        return f"Gates imported from {loaded.name}; saved to {target} as they change"

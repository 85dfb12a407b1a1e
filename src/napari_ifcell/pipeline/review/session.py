"""A review session: one person labelling a slide's cells, every edit durable as it happens.

Combines the review state (``core.review_state``), its files (``io.review_store``), the
cell table and, for mask edits, the label store and the IF slide (to re-quantify the cells
an edit touched). Order of a mask edit, chosen so that a kill at any moment loses nothing
that was acknowledged: pixels and rows before/after are written and fsynced, then the journal
line (the acknowledgement), then the label store; ``pixels.json`` records how far the store
has caught up, and opening a session re-applies any edit the store missed.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from napari_ifcell.core.review.state import DEFAULT_CLASSES, STATUSES, ReviewState
from napari_ifcell.io.atomic import atomic_write
from napari_ifcell.io.review_store import ReviewFiles, ReviewLockedError

HALO_PX = 12  # around an edited cell: covers the cell compartment (5 px) with room to spare


class ReviewSession:
    def __init__(
        self,
        files: ReviewFiles,
        state: ReviewState,
        initial: pd.DataFrame,
        *,
        reviewer: str,
        store=None,
        if_slide=None,
        quantify_settings=None,
        gates=None,
    ):
        self.files, self.state, self.initial, self.reviewer = files, state, initial, reviewer
        self.store, self.if_slide, self.gates = store, if_slide, gates
        self.quantify_settings = quantify_settings
        self.overrides: dict[int, dict | None] = {}  # cell id -> its row after mask edits (None: gone)

    # --- starting and opening ----------------------------------------------------------------
    @classmethod
    def open(
        cls,
        project,
        table: pd.DataFrame | None = None,
        *,
        reviewer: str,
        auto_from: str = "phenotype",
        classes=DEFAULT_CLASSES,
        store=None,
        if_slide=None,
        quantify_settings=None,
        gates=None,
        read_only: bool = False,
    ) -> ReviewSession:
        """Open the project's review, or start one from ``table`` (the auto labels from its
        ``phenotype`` (gates) or ``predicted`` (a model) column).

        An editing session holds the project's review until :meth:`close` (a second one is
        refused, naming the holder). ``read_only``: for exports and comparisons, no lock and
        no edits; a label store lagging behind the journal is caught up only if no one holds
        the review. An existing review opened with a ``store`` that is not its own (segmented
        again since) is refused before that catch-up writes anything."""
        files = ReviewFiles(project)
        try:
            files.lock(reviewer)
        except ReviewLockedError:
            if not read_only:
                raise
        try:
            session = cls._open(files, table, reviewer, auto_from, classes, store, if_slide, quantify_settings, gates)
        except BaseException:
            files.close()
            raise
        if read_only:
            files.unlock()
        return session

    @classmethod
    def _open(cls, files, table, reviewer, auto_from, classes, store, if_slide, quantify_settings, gates):
        initial = None
        existed = files.exists()
        if not existed:
            if table is None:
                raise FileNotFoundError(
                    f"{files.folder}: no review yet; start one in napari's Review tab, from a gated cell table (or, on an H&E slide "
                    "alone, its predictions)"
                )
            initial = _initial_table(table, auto_from)
            files.create(initial, {"classes": list(classes), "auto_from": auto_from, "schema_version": 1})
        meta = files.meta()
        initial = files.initial() if initial is None else initial
        state = ReviewState.from_auto(
            initial["CellID"],
            initial["auto_class"],
            source=meta["auto_from"] if meta["auto_from"] == "model" else "gates",
            classes=tuple(meta["classes"]),
        )
        session = cls(
            files,
            state,
            initial,
            reviewer=reviewer,
            store=store,
            if_slide=if_slide,
            quantify_settings=quantify_settings,
            gates=gates,
        )
        # the store may lag behind the journal if a process died between the two: catch up
        marker = files.folder / "pixels.json"
        applied = json.loads(marker.read_text())["applied_seq"] if marker.exists() else -1
        skipped, lagging = [], []
        for event in files.read_journal():
            try:
                write = session._apply(event)
                if write is not None and files.locked and store is not None and event["seq"] > applied:
                    lagging.append(write)
            except (KeyError, ValueError, IndexError) as exc:  # written unchecked by an older version
                state.n_events += 1  # its sequence number stays taken
                skipped.append(f"event {event.get('seq')} ({exc})")
        if existed and store is not None:  # its cells (less those lagging edits make or change) are the store's
            touched = {int(c) for write in lagging for c in write[2]}
            cells = session.table(["CellID", "X_centroid", "Y_centroid"])
            what = f"this review (move {files.folder} away to start a new one)"
            store.require_cells(cells[~cells["CellID"].isin(touched)], files.folder, what=what)
        for write in lagging:
            session._write_pixels(*write)
        if skipped:
            warnings.warn(
                f"{files.journal_path}: {len(skipped)} refused call(s) recorded by an older version were "
                f"skipped: {'; '.join(skipped[:3])}",
                stacklevel=3,
            )
        return session

    # --- review decisions (one key press each) --------------------------------------------------
    def approve(self, cells) -> int:
        return self.record({"op": "review", "action": "approve", "cells": _ids(cells)})

    def set_class(self, cells, name: str) -> int:
        return self.record({"op": "review", "action": "set_class", "cells": _ids(cells), "class": name})

    def reject(self, cells) -> int:
        return self.record({"op": "review", "action": "reject", "cells": _ids(cells)})

    def reset(self, cells) -> int:
        return self.record({"op": "review", "action": "reset", "cells": _ids(cells)})

    def undo(self) -> int:
        return self.record({"op": "undo"})

    def redo(self) -> int:
        return self.record({"op": "redo"})

    def record(self, event: dict, artifact=None) -> int:
        """Apply an event, make it durable, return its sequence number."""
        if not self.files.locked:
            raise PermissionError(f"{self.files.folder}: this review was opened read-only (or closed); no edits")
        self.state.check(event)  # a refused call never reaches the journal
        event = {**event, "seq": self.state.n_events, "who": self.reviewer, "t": time.time()}
        if artifact is not None:
            event["edit"] = self.files.write_edit(event["seq"], *artifact)
        self.files.append(event)  # acknowledged from here on
        write = self._apply(event)
        if write is not None and self.store is not None:
            self._write_pixels(*write)
        return event["seq"]

    def _apply(self, event: dict) -> tuple | None:
        """Apply a journal event to the state and the cells' rows. Returns the label store
        write it calls for, ``(origin, pixels, cells, seq)`` for :meth:`_write_pixels`, or
        None for a review decision."""
        state = self.state
        state.apply(event)
        op = event["op"]
        record = None
        if op in ("cells", "redo") and state.undo_stack:
            record, direction = state.undo_stack[-1], "after"
        elif op == "undo" and state.redo_stack:
            record, direction = state.redo_stack[-1], "before"
        if record is None or record.get("event") is None:  # a review decision: no pixels, no rows
            return None
        origin, before, after, rows_before, rows_after = self.files.read_edit(record["event"]["edit"])
        rows = rows_after if direction == "after" else rows_before
        for cell in record["pos_ids"]:
            self.overrides[int(cell)] = None
        for row in rows.to_dict("records"):
            self.overrides[int(row["CellID"])] = row
        return origin, after if direction == "after" else before, record["pos_ids"], event["seq"]

    # --- pixels -----------------------------------------------------------------------------------
    def _write_pixels(self, origin, pixels, cells, seq: int) -> None:
        self.store.begin(f"review by {self.reviewer}")  # all or nothing; the journal has the edit anyway
        try:
            self.store.write_window(pixels, origin, cells)
        except BaseException:
            self.store.roll_back()
            raise
        self.store.commit()
        atomic_write(self.files.folder / "pixels.json", lambda p: p.write_text(json.dumps({"applied_seq": seq})))

    # --- reading ------------------------------------------------------------------------------------
    def table(self, columns=None) -> pd.DataFrame:
        """The cell table after mask edits, with the review columns (see ``ReviewState.table``);
        ``columns``: only these of the cell table (cheap on a million-row, wide table)."""
        cells = (
            self.initial
            if columns is None
            else self.initial[[c for c in dict.fromkeys(["CellID", *columns]) if c in self.initial]]
        )
        if self.overrides:
            edited = np.fromiter(self.overrides, np.int64)
            rows = pd.DataFrame([r for r in self.overrides.values() if r is not None], columns=cells.columns)
            cells = pd.concat([cells[~cells["CellID"].isin(edited)], rows], ignore_index=True)
        review = self.state.table().drop(columns=["auto_class", "CellID"])
        pos = self.state.positions(cells["CellID"].to_numpy())
        with pd.option_context("mode.copy_on_write", True):
            out = cells.reset_index(drop=True).assign(**{c: review[c].to_numpy()[pos] for c in review.columns})
            return out[out["review_status"] != "deleted"].reset_index(drop=True)

    def deleted_by_person(self) -> pd.DataFrame:
        """``CellID, Y_centroid, X_centroid`` of the slide's cells a person deleted (*Delete*:
        no cell here) and that are still deleted; cells merged away or split are not among them.
        Read from the edits in effect (the state's undo stack): the last one that removed a cell
        says how, so a Delete undone and a merge after it is a merge."""
        removed_by: dict[int, str] = {}
        for record in self.state.undo_stack:
            event = record.get("event") or {}
            for cell in event.get("removed", []):
                removed_by[int(cell)] = event.get("kind", "")
        removed = [cell for cell, kind in removed_by.items() if kind == "delete"]
        gone = self.state.table().set_index("CellID")["review_status"].reindex(removed) == "deleted"
        rows = self.initial[self.initial["CellID"].isin(gone.index[gone.to_numpy()])]
        return rows[["CellID", "Y_centroid", "X_centroid"]].reset_index(drop=True)

    def save(self) -> Path:
        """Write the materialised review table atomically (the journal already holds every edit)."""
        return self.files.write_state(self.table())

    def close(self) -> None:
        self.save()
        self.files.close()

    def status_counts(self) -> dict[str, int]:
        return dict(zip(STATUSES, np.bincount(self.state.status, minlength=len(STATUSES)).tolist()))


def _ids(cells) -> list[int]:
    return [int(c) for c in np.atleast_1d(cells)]


def _initial_table(table: pd.DataFrame, auto_from: str) -> pd.DataFrame:
    from napari_ifcell.core.classes import CLASS_OF_PHENOTYPE

    if auto_from == "phenotype":
        if "phenotype" not in table.columns:
            raise ValueError(
                "the cell table has no 'phenotype' column; gate it first (or start from a model's 'predicted')"
            )
        auto = table["phenotype"].map(CLASS_OF_PHENOTYPE)
    elif auto_from == "model":
        if "predicted" not in table.columns:
            raise ValueError("the cell table has no 'predicted' column; run a classifier first")
        auto = table["predicted"]
    else:
        raise ValueError(f"auto_from must be 'phenotype' or 'model', got {auto_from!r}")
    with pd.option_context("mode.copy_on_write", True):  # no copy of a wide million-row table
        return table.assign(auto_class=auto.astype(object).where(auto.notna(), None).to_numpy())

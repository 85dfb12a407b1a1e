"""Review state of a slide's cells: each cell's label, where it came from, its review status,
who reviewed it and when — rebuilt by replaying an append-only journal of events.

Events are plain dicts (JSON lines on disk, see ``io.review_store``)::

    {"op": "review", "action": "approve" | "set_class" | "reject" | "reset",
     "cells": [ids], "class": name, "who": reviewer, "t": unix time}
    {"op": "cells", "added": {id: class}, "removed": [ids], "changed": [ids], "who", "t", ...}
    {"op": "undo", ...}   {"op": "redo", ...}

``undo`` / ``redo`` walk back and forth over the edits, like an editor's; a new edit after an
undo drops the redo history. Replaying the same events always gives the same state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from napari_ifcell.core.classes import CLASSES

DEFAULT_CLASSES = CLASSES
STATUSES = ("unreviewed", "approved", "corrected", "rejected", "deleted")
SOURCES = ("none", "gates", "model", "person")
NO_CLASS = -1
REJECTED = -2  # a reviewer's decision "not a cell / artefact" in ``by_reviewer``
NOT_A_CELL = "not a cell"  # the class a rejected cell ends with (in exports and the compare truth)
_COLUMNS = ("label", "source", "status", "reviewer", "time")


@dataclass
class ReviewState:
    """Per-cell arrays, aligned with ``ids`` (sorted)."""

    ids: np.ndarray
    classes: tuple[str, ...]
    auto: np.ndarray  # class code suggested by gates / a model (-1: none)
    auto_source: np.ndarray
    label: np.ndarray
    source: np.ndarray
    status: np.ndarray
    reviewer: np.ndarray  # index into ``reviewers`` (-1: nobody)
    time: np.ndarray
    reviewers: list[str] = field(default_factory=list)
    by_reviewer: dict[str, dict[int, int]] = field(default_factory=dict)  # last decision: class code or REJECTED
    undo_stack: list = field(default_factory=list)
    redo_stack: list = field(default_factory=list)
    n_events: int = 0

    # --- building ------------------------------------------------------------------------------
    @classmethod
    def from_auto(cls, ids, auto_classes, *, source: str = "gates", classes=DEFAULT_CLASSES) -> ReviewState:
        """Every cell unreviewed, labelled with its automatic class (``None``: no label)."""
        ids = np.asarray(ids, np.int64)
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        if len(np.unique(ids)) != len(ids):
            raise ValueError("cell ids must be unique")
        codes = encode(np.asarray(auto_classes, dtype=object)[order], classes)
        n = len(ids)
        src = np.full(n, SOURCES.index(source), np.int8)
        src[codes == NO_CLASS] = SOURCES.index("none")
        return cls(
            ids,
            tuple(classes),
            codes,
            src,
            codes.copy(),
            src.copy(),
            np.zeros(n, np.int8),
            np.full(n, -1, np.int16),
            np.zeros(n),
        )

    def positions(self, cell_ids) -> np.ndarray:
        cell_ids = np.atleast_1d(np.asarray(cell_ids, np.int64))
        pos = np.searchsorted(self.ids, cell_ids)
        pos = np.clip(pos, 0, max(len(self.ids) - 1, 0))
        if len(self.ids) == 0 or not np.array_equal(self.ids[pos], cell_ids):
            missing = cell_ids[(len(self.ids) == 0) | (self.ids[pos] != cell_ids)] if len(self.ids) else cell_ids
            raise KeyError(f"unknown cell ids {missing[:5].tolist()}")
        return pos

    # --- events --------------------------------------------------------------------------------
    def check(self, event: dict) -> None:
        """Raise (KeyError, ValueError) if :meth:`apply` would refuse ``event``; changes nothing."""
        op = event.get("op")
        if op == "review":
            self.positions(event["cells"])
            if event.get("action") not in ("approve", "set_class", "reject", "reset"):
                raise ValueError(f"unknown review action {event.get('action')!r}")
            if event["action"] == "set_class" and event.get("class") not in self.classes:
                raise ValueError(f"unknown class {event.get('class')!r}; expected one of {self.classes}")
        elif op == "cells":
            added = {int(k) for k in event.get("added", {})}
            known = [c for c in (*event.get("removed", []), *event.get("changed", [])) if int(c) not in added]
            if known:
                self.positions(known)
        elif op not in ("undo", "redo"):
            raise ValueError(f"unknown review event {op!r}")

    def apply(self, event: dict) -> None:
        """Apply one journal event (see the module docstring)."""
        op = event["op"]
        if op == "undo":
            if self.undo_stack:
                record = self.undo_stack.pop()
                self._restore(record, "before")
                self.redo_stack.append(record)
        elif op == "redo":
            if self.redo_stack:
                record = self.redo_stack.pop()
                self._restore(record, "after")
                self.undo_stack.append(record)
        elif op in ("review", "cells"):
            record = self._review(event) if op == "review" else self._cells(event)
            self.undo_stack.append(record)
            self.redo_stack.clear()
        else:
            raise ValueError(f"unknown review event {op!r}")
        self.n_events += 1

    def _review(self, event: dict) -> dict:
        pos = self.positions(event["cells"])
        who = self._reviewer_index(event.get("who", ""))
        action = event["action"]
        if action == "approve":
            pos = pos[self.label[pos] != NO_CLASS]
        before = self._snapshot(pos, event.get("who", ""))
        if action == "approve":  # the label shown is right; a cell without one has nothing to approve
            self.status[pos] = STATUSES.index("approved")
        elif action == "set_class":
            code = self.classes.index(event["class"])
            self.label[pos] = code
            self.source[pos] = SOURCES.index("person")
            self.status[pos] = np.where(self.auto[pos] == code, STATUSES.index("approved"), STATUSES.index("corrected"))
        elif action == "reject":
            self.status[pos] = STATUSES.index("rejected")
        elif action == "reset":
            self.label[pos], self.source[pos] = self.auto[pos], self.auto_source[pos]
            self.status[pos] = STATUSES.index("unreviewed")
        else:
            raise ValueError(f"unknown review action {action!r}")
        reviewed = action != "reset"
        self.reviewer[pos] = who if reviewed else -1
        self.time[pos] = event.get("t", 0.0) if reviewed else 0.0
        mine = self.by_reviewer.setdefault(event.get("who", ""), {})
        for p in pos:
            if action == "reset":
                mine.pop(int(self.ids[p]), None)
            else:
                mine[int(self.ids[p])] = REJECTED if action == "reject" else int(self.label[p])
        return {"before": before, "after": self._snapshot(pos, event.get("who", "")), "pos_ids": self.ids[pos].copy()}

    def _cells(self, event: dict) -> dict:
        """Cells added (painted, SAM), removed (deleted, merged away) or reshaped."""
        added = {int(k): v for k, v in event.get("added", {}).items()}
        new = np.array(sorted(set(added) - set(self.ids.tolist())), np.int64)
        if len(new):
            self._insert(new, [added[i] for i in new])
        removed = np.asarray(event.get("removed", []), np.int64)
        touched = np.unique(
            np.concatenate([np.asarray(list(added), np.int64), removed, np.asarray(event.get("changed", []), np.int64)])
        )
        pos = self.positions(touched) if len(touched) else np.zeros(0, np.int64)
        who = event.get("who", "")
        before = self._snapshot(pos, who)
        if len(new):  # a new cell was never there: undo marks it deleted
            new_pos = self.positions(new)
            before["status"][np.isin(pos, new_pos)] = STATUSES.index("deleted")
        rpos = self.positions(removed) if len(removed) else np.zeros(0, np.int64)
        self.status[rpos] = STATUSES.index("deleted")
        for cell, name in added.items():
            p = self.positions([cell])[0]
            self.label[p] = self.classes.index(name) if name in self.classes else NO_CLASS
            self.source[p] = SOURCES.index("person")
            self.status[p] = STATUSES.index("corrected")
        self.reviewer[pos] = self._reviewer_index(who)
        self.time[pos] = event.get("t", 0.0)
        return {"before": before, "after": self._snapshot(pos, who), "pos_ids": touched, "event": event}

    def _insert(self, new_ids: np.ndarray, names) -> None:
        at = np.searchsorted(self.ids, new_ids)
        codes = encode(np.asarray(names, dtype=object), self.classes)
        self.ids = np.insert(self.ids, at, new_ids)
        self.auto = np.insert(self.auto, at, NO_CLASS)
        self.auto_source = np.insert(self.auto_source, at, SOURCES.index("none"))
        self.label = np.insert(self.label, at, codes)
        self.source = np.insert(self.source, at, SOURCES.index("person"))
        self.status = np.insert(self.status, at, STATUSES.index("deleted"))
        self.reviewer = np.insert(self.reviewer, at, -1)
        self.time = np.insert(self.time, at, 0.0)

    def _snapshot(self, pos: np.ndarray, who: str) -> dict:
        mine = self.by_reviewer.get(who, {})
        return {
            **{c: getattr(self, c)[pos].copy() for c in _COLUMNS},
            "who": who,
            "mine": {int(self.ids[p]): mine.get(int(self.ids[p])) for p in pos},
        }

    def _restore(self, record: dict, which: str) -> None:
        values = record[which]
        pos = self.positions(record["pos_ids"]) if len(record["pos_ids"]) else np.zeros(0, np.int64)
        for c in _COLUMNS:
            getattr(self, c)[pos] = values[c]
        mine = self.by_reviewer.setdefault(values["who"], {})
        for cell, value in values["mine"].items():
            if value is None:
                mine.pop(cell, None)
            else:
                mine[cell] = value

    def _reviewer_index(self, who: str) -> int:
        if who not in self.reviewers:
            self.reviewers.append(who)
        return self.reviewers.index(who)

    # --- reading -------------------------------------------------------------------------------
    def table(self) -> pd.DataFrame:
        """One row per cell: ``CellID, auto_class, label_source, reviewed_class, review_status,
        reviewer, reviewed_at`` (``reviewed_class`` only where a person decided)."""
        names = np.asarray((*self.classes, None), dtype=object)
        status = np.asarray(STATUSES, dtype=object)[self.status]
        decided = np.isin(status, ("approved", "corrected"))
        reviewer = np.asarray([*self.reviewers, None], dtype=object)[self.reviewer]
        return pd.DataFrame(
            {
                "CellID": self.ids,
                "auto_class": names[self.auto],
                "label_source": np.asarray(SOURCES, dtype=object)[self.source],
                "reviewed_class": np.where(decided, names[self.label], None),
                "review_status": status,
                "reviewer": reviewer,
                "reviewed_at": _timestamps(self.time),
            }
        )

    def equals(self, other: ReviewState) -> bool:
        same = all(
            np.array_equal(getattr(self, c), getattr(other, c)) for c in ("ids", "auto", "auto_source", *_COLUMNS)
        )
        return same and self.by_reviewer == other.by_reviewer and self.reviewers == other.reviewers


def final_class(table: pd.DataFrame, *, rejected: bool = True) -> pd.Series:
    """The class a cell ends with: :data:`NOT_A_CELL` when a reviewer rejected it (unless not
    ``rejected``: then the class it had), else a person's (``reviewed_class``) when given, else
    the automatic one (``auto_class``); any of the columns may be missing."""
    none = pd.Series([None] * len(table), index=table.index, dtype=object)
    auto = table["auto_class"] if "auto_class" in table.columns else none
    reviewed = table["reviewed_class"] if "reviewed_class" in table.columns else none
    final = reviewed.where(reviewed.notna(), auto)
    if rejected and "review_status" in table.columns:
        final = final.where(table["review_status"].to_numpy() != "rejected", NOT_A_CELL)
    return final


def _timestamps(seconds: np.ndarray) -> pd.Series:
    """UTC times from Unix seconds (0 = never); integer nanoseconds, so no float rounding
    runs under a caller's ``np.seterr(all="raise")``."""
    nanos = np.round(np.where(seconds > 0, seconds, 0.0) * 1e9).astype(np.int64)
    return pd.Series(pd.to_datetime(nanos, utc=True)).where(seconds > 0)


def encode(names: np.ndarray, classes) -> np.ndarray:
    """Class names -> codes (``NO_CLASS`` for None / NaN / names not in ``classes``)."""
    lookup = {c: i for i, c in enumerate(classes)}
    return np.fromiter(
        (lookup.get(n, NO_CLASS) if isinstance(n, str) else NO_CLASS for n in names), np.int16, len(names)
    )

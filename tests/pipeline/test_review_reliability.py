"""Review sessions against hostile conditions: refused calls, a full disk, a second session in
this process or another one, and a journal damaged by an older version."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap

import pytest

from napari_ifcell.io.review_store import ReviewLockedError
from napari_ifcell.pipeline.review.session import ReviewSession

from .review_fixtures import make_project


@pytest.fixture
def project(small_pair, small_table, tmp_path):
    table, _ = make_project(small_pair, small_table, tmp_path)
    return tmp_path, table


def journal_lines(folder) -> list[dict]:
    path = folder / "review" / "journal.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_a_refused_call_never_reaches_the_journal_and_the_review_reopens(project):
    folder, table = project
    s = ReviewSession.open(folder, table, reviewer="ana")
    ids = table["CellID"].to_numpy()
    s.approve(ids[:2])
    with pytest.raises(KeyError, match="unknown cell ids"):
        s.approve([ids[0], 99_999_999])
    with pytest.raises(ValueError, match="unknown review action"):
        s.record({"op": "review", "action": "bless", "cells": [int(ids[0])]})
    s.set_class(ids[2], "B cell")
    assert [e["seq"] for e in journal_lines(folder)] == [0, 1]
    s.close()
    again = ReviewSession.open(folder, reviewer="ben")
    assert again.status_counts()["approved"] + again.status_counts()["corrected"] == 3


def test_a_journal_with_refused_calls_of_an_older_version_reopens_and_keeps_numbering(project):
    folder, table = project
    s = ReviewSession.open(folder, table, reviewer="ana")
    ids = table["CellID"].to_numpy()
    s.approve(ids[0])
    s.close()
    bad = {"op": "review", "action": "approve", "cells": [99_999_999], "seq": 1, "who": "old", "t": 0}
    with open(folder / "review" / "journal.jsonl", "a") as f:
        f.write(json.dumps(bad) + "\n")
    with pytest.warns(UserWarning, match="1 refused call"):
        again = ReviewSession.open(folder, reviewer="ben")
    assert again.record({"op": "review", "action": "reject", "cells": [int(ids[1])]}) == 2  # seq 1 stays taken
    assert again.table().set_index("CellID").loc[ids[1], "review_status"] == "rejected"


def test_a_full_disk_loses_only_the_failed_decision(project, monkeypatch):
    folder, table = project
    s = ReviewSession.open(folder, table, reviewer="ana")
    ids = table["CellID"].to_numpy()
    s.approve(ids[0])
    size = (folder / "review" / "journal.jsonl").stat().st_size

    import napari_ifcell.io.review_store as review_store

    real_write = review_store.os.write

    def half_then_full(fd, data):  # the disk fills up half-way through the line
        real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(review_store.os, "write", half_then_full)
    with pytest.raises(OSError, match="No space"):
        s.reject(ids[1])
    monkeypatch.setattr(review_store.os, "write", lambda fd, data: real_write(fd, data[:5]))  # a short write
    with pytest.raises(OSError, match="only 5 of"):
        s.reject(ids[1])
    assert (folder / "review" / "journal.jsonl").stat().st_size == size  # cut back both times
    assert s.table().set_index("CellID").loc[ids[1], "review_status"] == "unreviewed"  # not applied
    monkeypatch.undo()
    s.reject(ids[2])  # space again: the session goes on
    s.close()
    again = ReviewSession.open(folder, reviewer="ben").table().set_index("CellID")
    assert again.loc[ids[1], "review_status"] == "unreviewed" and again.loc[ids[2], "review_status"] == "rejected"


def test_a_second_editing_session_is_refused_naming_the_holder(project):
    folder, table = project
    first = ReviewSession.open(folder, table, reviewer="ana")
    with pytest.raises(ReviewLockedError, match="open in another session .*'ana'.*process"):
        ReviewSession.open(folder, reviewer="ben")
    reader = ReviewSession.open(folder, reviewer="compare", read_only=True)  # exports and comparisons still read
    with pytest.raises(PermissionError, match="read-only"):
        reader.approve(table["CellID"].iloc[0])
    first.close()
    ReviewSession.open(folder, reviewer="ben").approve(table["CellID"].iloc[0])


HOLDER = textwrap.dedent("""
    import sys, time
    from napari_ifcell.pipeline.review.session import ReviewSession
    s = ReviewSession.open(sys.argv[1], reviewer="other process")
    print("open", flush=True)
    time.sleep(60)
""")


def test_a_session_in_another_process_blocks_until_that_process_dies(project):
    folder, table = project
    ReviewSession.open(folder, table, reviewer="ana").close()
    child = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "open"
        with pytest.raises(ReviewLockedError, match=f"'other process'.*process {child.pid}"):
            ReviewSession.open(folder, reviewer="ana")
    finally:
        child.kill()  # no clean exit: the OS drops its lock
        child.wait()
    ReviewSession.open(folder, reviewer="ana").approve(table["CellID"].iloc[0])

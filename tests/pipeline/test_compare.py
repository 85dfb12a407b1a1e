"""Region comparison on the synthetic pair: our classifier and a HoVer-Net file built by the
test with known mistakes reproduce hand-computed numbers."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest
from scipy.spatial import cKDTree

from napari_ifcell.io.regions import Region
from napari_ifcell.pipeline.compare import classifier_cells, compare_models, truth_cells
from napari_ifcell.pipeline.detection_source import DetectionSource

PX = 0.325
LYMPH = {"CD4 T", "regulatory T", "CD8 T", "B cell"}
LIZARD = {"lymphocyte": 3, "other": 2}


def truth_class(table):
    cls = pd.Series("other", index=table.index, dtype=object)
    cls[table["phenotype"].isin(LYMPH)] = "lymphocyte"
    cls[table["phenotype"].isin(["unknown", "inconsistent"])] = None
    return cls


def pick_regions(table):
    """The 300 x 300 px windows (of a grid) with the most and the fewest lymphocytes."""
    lymph = table["phenotype"].isin(LYMPH)
    best = []
    for y in range(0, 800, 100):
        for x in range(0, 1100, 100):
            inside = table.Y_centroid.between(y + 0.3, y + 300.3) & table.X_centroid.between(x + 0.3, x + 300.3)
            if inside.sum() > 40:
                best.append((int((lymph & inside).sum()), y + 0.3, x + 0.3))
    best.sort()
    (_, ys, xs), (_, yd, xd) = best[0], best[-1]
    return Region.rectangle("sparse", ys, xs, 300, 300), Region.rectangle("dense", yd, xd, 300, 300)


def inside(region, y, x):
    y0, x0, h, w = region.vertices[0][0], region.vertices[0][1], 300, 300
    return (y >= y0) & (y <= y0 + h) & (x >= x0) & (x <= x0 + w)


def hovernet_file(table, cls, path, rng):
    """Every cell, at 0.5 µm/px, x/y swapped as HoVer-Net writes them, with mistakes:
    a fifth of the lymphocytes missed, a tenth called epithelial, 7 spurious lymphocytes."""
    ys, xs = table.Y_centroid.to_numpy(), table.X_centroid.to_numpy()
    others = np.column_stack([ys, xs])[cls.to_numpy() == "other"]
    lymph_rows = np.flatnonzero(cls.to_numpy() == "lymphocyte")
    # relabel only lymphocytes with no "other" cell within 4 µm, so no other match is possible
    far = cKDTree(others).query(np.column_stack([ys, xs])[lymph_rows])[0] * PX > 4
    lymph_rows = rng.permutation(lymph_rows[far])
    missed = set(lymph_rows[: len(lymph_rows) // 5])
    relabelled = set(lymph_rows[len(lymph_rows) // 5 : len(lymph_rows) // 5 + len(lymph_rows) // 10])
    nuc, key = {}, 1
    for i, (y, x) in enumerate(zip(ys, xs)):
        key += int(rng.integers(1, 3))  # ids with gaps
        if i in missed:
            continue
        kind = "other" if i in relabelled or cls.iloc[i] != "lymphocyte" else "lymphocyte"
        nuc[str(key)] = {
            "centroid": [x * PX / 0.5, y * PX / 0.5],
            "type": LIZARD[kind],
            "type_prob": 0.9,
            "bbox": [[0, 0], [1, 1]],
            "contour": [[x * PX / 0.5, y * PX / 0.5]] * 3,
        }
    # spurious lymphocytes at least 6 µm from every cell
    tree = cKDTree(np.column_stack([ys, xs]))
    spurious = [(y, x) for y in range(5, 1100, 37) for x in range(5, 1400, 41) if tree.query([y, x])[0] * PX > 6][::3]
    for y, x in spurious:
        key += 1
        nuc[str(key)] = {
            "centroid": [x * PX / 0.5, y * PX / 0.5],
            "type": 3,
            "type_prob": 0.5,
            "bbox": [[0, 0], [1, 1]],
            "contour": [[x * PX / 0.5, y * PX / 0.5]] * 3,
        }
    path.write_text(json.dumps({"mag": 20, "nuc": nuc}))
    return missed, relabelled, np.asarray(spurious, float)


def test_two_region_report_matches_hand_counts(predicted_table, tmp_path):
    table = predicted_table
    cls = truth_class(table)
    sparse, dense = pick_regions(table)
    missed, relabelled, spurious = hovernet_file(table, cls, tmp_path / "hovernet.json", np.random.default_rng(0))
    hover = DetectionSource(tmp_path / "hovernet.json", type_map="lizard").read(PX)  # 0.5 µm from the preset
    report, counts, outcomes = compare_models(
        [sparse, dense], truth_cells(table), {"ours": classifier_cells(table), "HoVer-Net": hover}, um_per_px=PX
    )
    report = report.set_index("region")
    ys, xs = table.Y_centroid.to_numpy(), table.X_centroid.to_numpy()
    pred = table["predicted"].map(lambda c: "lymphocyte" if c in LYMPH else "other").to_numpy()
    totals = {"ours": np.zeros(3), "HoVer-Net": np.zeros(3)}
    for region in (sparse, dense):
        r = inside(region, ys, xs)
        is_l = r & (cls.to_numpy() == "lymphocyte")
        assert report.loc[region.name, "n lymphocyte"] == is_l.sum()
        assert report.loc[region.name, "n other"] == (r & (cls.to_numpy() == "other")).sum()
        # ours: same cells, so TP/FP/FN straight from the table (cells without IF label not scored)
        ours = np.array(
            [
                (is_l & (pred == "lymphocyte")).sum(),
                (r & (cls.to_numpy() == "other") & (pred == "lymphocyte")).sum(),
                (is_l & (pred != "lymphocyte")).sum(),
            ]
        )
        # HoVer-Net: every lymphocyte found except the missed and relabelled ones; the spurious ones are FP
        rows = np.flatnonzero(is_l)
        lost = sum(i in missed or i in relabelled for i in rows)
        n_spurious = int(inside(region, spurious[:, 0], spurious[:, 1]).sum())
        hover_counts = np.array([len(rows) - lost, n_spurious, lost])
        for name, (tp, fp, fn) in (("ours", ours), ("HoVer-Net", hover_counts)):
            totals[name] += (tp, fp, fn)
            assert report.loc[region.name, f"{name} lymphocyte P"] == pytest.approx(tp / (tp + fp) if tp + fp else 0.0)
            assert report.loc[region.name, f"{name} lymphocyte R"] == pytest.approx(tp / (tp + fn) if tp + fn else 0.0)
            assert report.loc[region.name, f"{name} lymphocyte F1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert report.loc["dense", "n lymphocyte"] > 5 * max(report.loc["sparse", "n lymphocyte"], 1)
    for name, (tp, fp, fn) in totals.items():
        assert report.loc["Total", f"{name} lymphocyte F1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert (
        report.loc["Total", "n lymphocyte"]
        == report.loc["sparse", "n lymphocyte"] + report.loc["dense", "n lymphocyte"]
    )
    # the overlay codes agree with the counts
    hover_truth, hover_pred = outcomes["HoVer-Net"]
    hover_total = counts[(counts.model == "HoVer-Net") & (counts.region == "Total")]
    assert (hover_truth == 3).sum() == hover_total["fn"].sum()


def test_mask_iou_matching_on_contours(small_pair, small_table):
    from napari_ifcell.io import open_slide
    from napari_ifcell.pipeline.tiling import read_labels

    labels = open_slide(small_pair.labels_path)
    region = Region.rectangle("r", 750.3, 200.3, 300, 300)  # the small pair's densest 300 px: 110 cells
    truth_img = read_labels(labels, 0, 0, 1100, 600)
    from skimage.measure import find_contours, regionprops

    table = small_table.assign(phenotype="other")
    truth = truth_cells(table)
    cells = []
    for prop in regionprops(truth_img):
        y0, x0, _, _ = prop.bbox
        contour = find_contours(np.pad(prop.image, 1).astype(float), 0.5)[0] + (y0 - 1, x0 - 1)
        cells.append({"y": prop.centroid[0], "x": prop.centroid[1], "class": "other", "contour": contour})
    predicted = pd.DataFrame(cells)
    report, counts, _ = compare_models(
        [region], truth, {"m": predicted}, um_per_px=PX, match="iou", labels=labels.levels[0]
    )
    other = counts[counts.region == "r"].set_index("class").loc["other"]
    n = int(region.contains(truth.y, truth.x).sum())
    assert n >= 100 and other["tp"] >= 0.95 * n and other["fp"] + other["fn"] <= 0.1 * n
    # the Total (the union of one region) is matched by the same masks
    total = counts[counts.region == "Total"].set_index("class").loc["other"]
    assert (total.tp, total.fp, total.fn) == (other.tp, other.fp, other.fn)
    with pytest.raises(ValueError, match="needs the truth label image"):
        compare_models([region], truth, {"m": predicted}, um_per_px=PX, match="iou")
    # a label image of other cells (here the same outlines numbered otherwise, as another
    # segmenter's export would be) scored chance agreement without a word: now refused
    renumbered = np.where(truth_img > 0, truth_img.max() + 1 - truth_img, 0)
    with pytest.raises(ValueError, match=r"not the labels of the cells of the truth table: \d+ of \d+ cells"):
        compare_models([region], truth, {"m": predicted}, um_per_px=PX, match="iou", labels=renumbered)


def qupath_annotations(path, regions) -> None:
    """``regions`` as QuPath exports annotations: GeoJSON polygons, x / y, named by class."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [[[c, r] for r, c in [*reg.vertices, reg.vertices[0]]]]},
            "properties": {"objectType": "annotation", "classification": {"name": reg.name, "color": [0, 0, 255]}},
        }
        for reg in regions
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))


def test_compare_command_writes_the_report(predicted_table, tmp_path):
    import subprocess
    import sys

    import joblib

    from napari_ifcell.io.regions import save_regions

    table = predicted_table
    cls = truth_class(table)
    sparse, dense = pick_regions(table)
    hovernet_file(table, cls, tmp_path / "hovernet.json", np.random.default_rng(0))
    table.to_parquet(tmp_path / "predicted.parquet", index=False)
    save_regions([sparse, dense], tmp_path / "slide.ifcell", pixel_size_um=PX)

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "napari_ifcell.cli", "compare", *map(str, args)], capture_output=True, text=True
        )

    done = run(
        tmp_path / "predicted.parquet",
        "--regions",
        tmp_path / "slide.ifcell",
        "--ours",
        tmp_path / "predicted.parquet",
        "--model",
        f"HoVer-Net={tmp_path / 'hovernet.json'}",
        "--type-map",
        "lizard",
        "--pixel-size-um",
        PX,
        "--out",
        tmp_path / "report",
    )
    assert done.returncode == 0, done.stderr
    csv = pd.read_csv(tmp_path / "report" / "comparison.csv").set_index("region")
    assert list(csv.index) == ["sparse", "dense", "Total"]
    expected, _, _ = compare_models(
        [sparse, dense],
        truth_cells(table),
        {"ours": classifier_cells(table), "HoVer-Net": DetectionSource(tmp_path / "hovernet.json").read(PX)},
        um_per_px=PX,
    )
    np.testing.assert_allclose(csv.to_numpy(float), expected.set_index("region").to_numpy(float))
    markdown = (tmp_path / "report" / "comparison.md").read_text()
    assert markdown.startswith("| region | n lymphocyte | n other | ours lymphocyte P") and "| Total |" in markdown
    assert done.stdout.startswith("| region")
    assert "matched by ours: cell id, HoVer-Net: centroid" in done.stdout
    assert (tmp_path / "report" / "comparison.png").read_bytes()[:4] == b"\x89PNG"
    # the report says how it was made: the truth, each model's file and frame, how it was matched
    about = markdown.split("## How this comparison was made")[1]
    assert f"Truth: {tmp_path / 'predicted.parquet'} (every cell labelled)" in about
    assert "ours: " in about and "(our classifier's predictions table); matched by cell id" in about
    hover_line = next(line for line in about.splitlines() if line.startswith("- HoVer-Net:"))
    assert "(hovernet-json, type map 'lizard', read at 0.5 µm/px (the file's mag 20x, nominally 10 / mag)" in hover_line
    assert hover_line.endswith("matched by centroid")
    assert "- Note: hovernet.json: its coordinates read at 0.5 µm/px" in about
    # the same regions drawn in QuPath and exported as GeoJSON annotations give the same report
    qupath_annotations(tmp_path / "qupath.geojson", [sparse, dense])
    ours = [tmp_path / "predicted.parquet", "--ours", tmp_path / "predicted.parquet", "--pixel-size-um", PX]
    again = run(*ours, "--regions", tmp_path / "qupath.geojson", "--out", tmp_path / "report_qupath")
    assert again.returncode == 0, again.stderr
    from_qupath = pd.read_csv(tmp_path / "report_qupath" / "comparison.csv").set_index("region")
    pd.testing.assert_frame_equal(from_qupath, csv[[c for c in csv if not c.startswith("HoVer-Net")]])
    # a TIAToolbox .dat is a pickle: refused unless trusted
    joblib.dump({1: {"centroid": (10.0, 20.0), "type": 3, "prob": 0.9}}, tmp_path / "tia.dat")
    args = [
        tmp_path / "predicted.parquet",
        "--region",
        "all",
        0,
        0,
        1100,
        1400,
        "--model",
        f"tia={tmp_path / 'tia.dat'}",
        "--pixel-size-um",
        PX,
    ]
    refused = run(*args)
    assert refused.returncode == 2 and "tia.dat" in refused.stderr and "pickle" in refused.stderr
    assert run(*args, "--trust-pickle", "--model-um-per-px", PX).returncode == 0
    # options per model, in --model order: the same file read as if its image began 40 px further right
    hovernet = f"{tmp_path / 'hovernet.json'}"
    two = [tmp_path / "predicted.parquet", "--regions", tmp_path / "slide.ifcell", "--pixel-size-um", PX]
    two += ["--model", f"A={hovernet}", "--model", f"B={hovernet}", "--origin-px", 0, 0, "--origin-px", 0, 40]
    assert run(*two, "--out", tmp_path / "two").returncode == 0
    scores = pd.read_csv(tmp_path / "two" / "comparison.csv").set_index("region").loc["Total"]
    assert scores["A lymphocyte F1"] == pytest.approx(expected.iloc[-1]["HoVer-Net lymphocyte F1"])
    assert scores["B lymphocyte F1"] < 0.5 * scores["A lymphocyte F1"]
    refused = run(*two, "--model", f"C={hovernet}")  # two origins for three models
    assert refused.returncode == 2 and "--origin-px given 2 times for 3 --model files" in refused.stderr
    # a file where the report folder should be is said before any reading
    (tmp_path / "taken").write_text("not a folder")
    refused = run(*two, "--out", tmp_path / "taken")
    assert refused.returncode == 2 and "taken: a file, where --out expects a folder" in refused.stderr


def test_a_reader_that_stops_early_ends_the_command_quietly(predicted_table, tmp_path):
    """The walk: ``compare ... | head -1`` ended with a BrokenPipeError line and exit 2. The
    report is written before the printing, and the closed pipe ends the command quietly (141,
    as a shell reports a reader that went away)."""
    import subprocess
    import sys

    predicted_table.to_parquet(tmp_path / "predicted.parquet", index=False)
    command = [sys.executable, "-m", "napari_ifcell.cli", "compare", str(tmp_path / "predicted.parquet")]
    command += ["--ours", str(tmp_path / "predicted.parquet"), "--pixel-size-um", str(PX), "--out", str(tmp_path)]
    for i in range(40):  # enough rows that the output does not fit the pipe before the reader stops
        command += ["--region", f"r{i}", "0", str(10 * i), "500", "500"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # output buffered, as in a shell
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    process.stdout.close()  # the reader goes away before the first line
    stderr = process.stderr.read()
    assert process.wait() == 141, stderr
    assert stderr == ""
    assert len(pd.read_csv(tmp_path / "comparison.csv")) == 41


def test_another_broken_pipe_is_an_error_not_a_closed_reader(monkeypatch, capsys):
    """Only a reader of the output that went away ends a command quietly; a pipe to a process
    that died is an error like any other (exit 2, one line)."""
    from napari_ifcell import cli
    from napari_ifcell.cli import compare as compare_command

    def broken(args):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(compare_command, "_compare", broken)
    assert cli.main(["compare", "--pixel-size-um", "0.325"]) == 2
    assert "napari-ifcell compare: error: BrokenPipeError" in capsys.readouterr().err


def test_recording_notes_passes_other_warnings_on():
    """The CLI's compare records its notes for the report: other warnings (a review journal's
    skipped calls) were swallowed with them."""
    import warnings

    from napari_ifcell.notes import note, recording_notes

    with pytest.warns(RuntimeWarning, match="journal"), recording_notes() as notes:
        note("a note")
        warnings.warn("journal: 2 calls skipped", RuntimeWarning, stacklevel=1)
    assert notes == ["a note"]


def test_the_chart_says_n_a_where_a_score_is_not_a_zero(tmp_path):
    """A NaN score drew no bar, which looks like a 0: the chart writes n/a there."""
    from napari_ifcell.io.comparison_report import save_report_chart

    def chart(score, name):
        report = pd.DataFrame({"region": ["a", "b"], "m lymphocyte F1": [0.5, score]})
        return save_report_chart(report, tmp_path / name).read_bytes()

    assert chart(np.nan, "nan.png") != chart(0.0, "zero.png")


def test_truth_follows_review():
    table = pd.DataFrame(
        {
            "CellID": [1, 2, 3, 4],
            "Y_centroid": 0.0,
            "X_centroid": [0.0, 10, 20, 30],
            "phenotype": ["CD4 T", "other", "unknown", "B cell"],
            "reviewed_class": [None, "CD8 T", "macrophage", None],
            "review_status": ["unreviewed", "corrected", "corrected", "rejected"],
        }
    )
    truth = truth_cells(table)
    assert truth["class"].tolist() == ["lymphocyte", "lymphocyte", "other", "not a cell"]  # rejected: no cell
    assert truth.attrs["complete"]  # IF labels every cell


def reviewed_grid(n=500):
    """An H&E slide alone's review: cells on a 20 px grid, three decided, one rejected."""
    status = ["approved", "corrected", "approved", "rejected"] + ["unreviewed"] * (n - 4)
    reviewed = ["CD8 T", "CD4 T", "other", None] + [None] * (n - 4)
    return pd.DataFrame(
        {
            "CellID": np.arange(1, n + 1),
            "Y_centroid": np.repeat(np.arange(0, 500, 20.0), 20)[:n],
            "X_centroid": np.tile(np.arange(0, 400, 20.0), 25)[:n],
            "reviewed_class": reviewed,
            "review_status": status,
        }
    )


def test_without_if_a_call_on_a_cell_no_one_reviewed_is_ignored_not_a_false_positive():
    """An H&E alone: the truth is what people decided. The model's calls on cells left
    unreviewed are ignored (counted apart), as a call on a cell without IF label is; a call on a
    cell a reviewer rejected is a false positive. The walk measured lymphocyte precision 0.004
    here where the 4 reviewed cells give 1.0."""
    n = 500
    table = reviewed_grid(n)
    truth = truth_cells(table)
    assert not truth.attrs["complete"] and truth["class"].isin(["lymphocyte", "other"]).sum() == 3
    predicted = classifier_cells(table.assign(predicted=["CD8 T", "CD8 T", "other", "CD4 T"] + ["CD4 T"] * (n - 4)))
    region = Region.rectangle("all", -1, -1, 600, 500)
    _, counts, _ = compare_models([region], truth, {"ours": predicted}, um_per_px=PX)
    lymph = counts[counts.region == "Total"].set_index("class").loc["lymphocyte"]
    assert (lymph["tp"], lymph["fp"], lymph["fn"], lymph["ignored"]) == (2, 1, 0, n - 4)
    with pytest.raises(ValueError, match="no reviewed cells"):
        truth_cells(table.assign(reviewed_class=None, review_status="unreviewed"))


def test_without_if_another_models_call_where_no_one_looked_is_not_held_against_it():
    """The walk: on an H&E alone, another model's detections at none of the truth's cells
    (cells our segmentation missed, or tissue between) counted as false positives, while our
    classifier, which only labels the store's cells, could never have one: a bias in our favour.
    They are ignored now, unless the truth is IF (every cell labelled). A call on the rejected
    cell stays a false positive, and one more call on a decided cell still counts."""
    table = reviewed_grid()
    truth = truth_cells(table)
    decided = table.iloc[:4]
    calls = pd.DataFrame(
        {
            "y": [*decided.Y_centroid + 1, 10.0, 10.0, 0.0],  # four on the reviewed cells, two between cells
            "x": [*decided.X_centroid, 10.0, 30.0, 1.5],  # and a second call on cell 1
            "class": ["lymphocyte", "lymphocyte", "other", "lymphocyte", "lymphocyte", "lymphocyte", "lymphocyte"],
        }
    )
    region = Region.rectangle("all", -1, -1, 600, 500)
    _, counts, outcomes = compare_models([region], truth, {"other": calls}, um_per_px=PX)
    lymph = counts[counts.region == "Total"].set_index("class").loc["lymphocyte"]
    assert (lymph["tp"], lymph["fp"], lymph["ignored"]) == (2, 2, 2)  # FP: the rejected cell, the second call
    assert outcomes["other"][1].tolist() == [1, 1, 1, 2, 4, 4, 2]
    if_truth = truth.copy()  # the same cells with IF labels: the truth is every cell, so between cells is FP
    if_truth.attrs["complete"] = True
    _, counts, _ = compare_models([region], if_truth, {"other": calls}, um_per_px=PX)
    assert counts[counts.region == "Total"].set_index("class").loc["lymphocyte", "fp"] == 4


def test_a_region_with_nothing_to_score_has_no_score_not_zero(tmp_path):
    """The walk: a region no one reviewed showed n = 0 and P / R / F1 0.000, which reads as the
    model failing there. Scores with nothing to count are NaN, written n/a."""
    from napari_ifcell.io.comparison_report import report_markdown

    table = reviewed_grid()
    truth = truth_cells(table)
    ours = classifier_cells(table.assign(predicted="CD8 T"))
    regions = [Region.rectangle("reviewed", -1, -1, 30, 90), Region.rectangle("not reviewed", 200, 0, 100, 100)]
    report, _, _ = compare_models(regions, truth, {"ours": ours}, um_per_px=PX)
    report = report.set_index("region")
    assert report.loc["not reviewed", "n lymphocyte"] == 0
    assert report.loc["not reviewed", ["ours lymphocyte P", "ours lymphocyte R", "ours lymphocyte F1"]].isna().all()
    assert np.isnan(report.loc["not reviewed", "ours mean F1"])
    # 2 TP; 2 FP: the decided "other" cell and the rejected one
    assert report.loc["reviewed", "ours lymphocyte F1"] == pytest.approx(2 / 3)
    assert report.loc["reviewed", "ours lymphocyte R"] == 1.0
    row = next(line for line in report_markdown(report.reset_index()).splitlines() if "not reviewed" in line)
    assert "n/a" in row and "0.000" not in row and "nan" not in row


def test_predictions_of_another_segmentation_are_matched_by_place_not_by_id(predicted_table):
    """A predictions table whose CellIDs number another segmentation's cells (an H&E-only
    slide's own store against the IF store's truth): pairing by id scored other cells' classes."""
    import warnings

    from napari_ifcell.notes import Note
    from napari_ifcell.pipeline.compare import ids_checked, matching_summary

    table = predicted_table
    regions, truth = list(pick_regions(table)), truth_cells(table)
    ours = classifier_cells(table)
    renumbered = ours.assign(CellID=np.random.default_rng(0).permutation(ours["CellID"].to_numpy()))
    with pytest.warns(UserWarning, match="ours: its cell ids are not the truth's cells .* matched by centroid"):
        checked = ids_checked(truth, {"ours": renumbered}, um_per_px=PX, radius_um=3.0)
    assert matching_summary(checked, "centroid") == "matched by ours: centroid"
    by_place, _, _ = compare_models(regions, truth, {"ours": ours.drop(columns="CellID")}, um_per_px=PX)
    with pytest.warns(UserWarning, match="not the truth's cells"):
        renumbered_report, _, _ = compare_models(regions, truth, {"ours": renumbered}, um_per_px=PX)
    pd.testing.assert_frame_equal(renumbered_report, by_place)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Note)  # the truth's own cells: paired by id, nothing to say
        assert ids_checked(truth, {"ours": ours}, um_per_px=PX, radius_um=3.0)["ours"] is ours


def _qupath_cells(path, cells) -> None:
    """QuPath's GeoJSON of detections: points with a classification name."""
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [x, y]},
            "properties": {"objectType": "detection", "classification": {"name": name, "color": [0, 0, 0]}},
        }
        for (y, x, name) in cells
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))


def test_what_a_model_file_was_read_as_is_said(tmp_path):
    """Types the map does not name, and a resolution taken from the type map or the file, are
    notes; QuPath's own class names and CellViT's recorded base_mpp are used."""
    _qupath_cells(tmp_path / "qupath.geojson", [(10, 10, "Immune cells"), (20, 20, "Tumor"), (30, 30, "Lymphos")] * 2)
    with pytest.warns(UserWarning) as noted:
        cells = DetectionSource(tmp_path / "qupath.geojson").read(PX)
    assert cells["class"].tolist() == ["lymphocyte", "other", "other"] * 2
    said = " ".join(str(w.message) for w in noted)
    assert "cells of type(s) 'Lymphos' (2) are not in the type map 'names' and count as 'other'" in said
    assert "scaled" not in said  # QuPath's coordinates are the slide's own

    nuc = {"1": {"centroid": [100.0, 50.0], "type": 3, "contour": [[99, 49], [101, 49], [101, 51]]}}
    (tmp_path / "typeless.json").write_text(json.dumps({"nuc": {**nuc, "2": {**nuc["1"], "type": None}}}))
    with pytest.warns(UserWarning, match="typeless.json: 1 of its 2 cells have no type and count as 'other'"):
        assert DetectionSource(tmp_path / "typeless.json").read(PX)["class"].tolist() == ["lymphocyte", "other"]
    # HoVer-Net run for segmentation only writes type null everywhere (the walk got "choose the type map")
    (tmp_path / "segmentation.json").write_text(json.dumps({"nuc": {"1": {**nuc["1"], "type": None}}}))
    with pytest.warns(UserWarning, match="segmentation.json: the file has no cell types .* say nothing"):
        DetectionSource(tmp_path / "segmentation.json", model_um_per_px=PX).read(PX)
    # HoVer-Net processed the slide at 40x: its coordinates are in 0.25 µm pixels (a user's 20x
    # file was read at the type map's 0.5 and every cell landed in the slide's top-left quarter)
    (tmp_path / "hovernet.json").write_text(json.dumps({"mag": 40, "nuc": nuc}))
    with pytest.warns(
        UserWarning, match="read at 0.25 µm/px \\(the file's mag 40x, nominally 10 / mag\\), scaled by 0.769"
    ):
        hover = DetectionSource(tmp_path / "hovernet.json").read(PX)
    np.testing.assert_allclose(hover[["y", "x"]].to_numpy(), [[50 * 0.25 / PX, 100 * 0.25 / PX]])
    (tmp_path / "hovernet.txt").write_text(json.dumps({"mag": 40, "nuc": nuc}))  # named otherwise, format given
    renamed = DetectionSource(tmp_path / "hovernet.txt", format="hovernet-json").read(PX)
    np.testing.assert_allclose(renamed[["y", "x"]].to_numpy(), hover[["y", "x"]].to_numpy())  # its mag was lost
    (tmp_path / "tiles.json").write_text(json.dumps({"mag": None, "nuc": nuc}))  # tile mode: no magnification
    with pytest.warns(
        UserWarning, match="read at 0.5 µm/px \\(the type map 'lizard''s training resolution\\), scaled by 1.54"
    ):
        DetectionSource(tmp_path / "tiles.json").read(PX)

    doc = {
        "wsi_metadata": {"base_mpp": 0.25},
        "type_map": {"Inflammatory": 2},
        "cells": [{"centroid": [100.0, 50.0], "type": 2, "contour": [[99, 49], [101, 49], [101, 51]]}],
    }
    (tmp_path / "cells.json").write_text(json.dumps(doc))
    with pytest.warns(UserWarning, match="read at 0.25 µm/px \\(the file's wsi_metadata.base_mpp\\)"):
        cellvit = DetectionSource(tmp_path / "cells.json").read(PX)
    np.testing.assert_allclose(cellvit[["y", "x"]].to_numpy(), [[50 * 0.25 / PX, 100 * 0.25 / PX]])
    assert cellvit["class"].tolist() == ["lymphocyte"]


def test_model_cells_off_the_slide_are_said_and_all_off_refused(tmp_path):
    """The walk: a model read at the wrong resolution put its cells far off the slide, and it
    scored 0 without a word. All off the slide is refused; more than 1 % off is a note."""
    nuc = {str(i): {"centroid": [100.0 + 10 * i, 50.0], "type": 3} for i in range(1, 101)}
    (tmp_path / "hovernet.json").write_text(json.dumps({"mag": 20, "nuc": nuc}))
    source = DetectionSource(tmp_path / "hovernet.json", type_map="lizard", model_um_per_px=PX)
    assert len(source.read(PX, slide_shape=(200, 1200))) == 100  # all on the slide: nothing said
    with pytest.warns(UserWarning, match="hovernet.json: 51 of its 100 cells lie off the slide \\(200 x 600 px"):
        assert len(source.read(PX, slide_shape=(200, 600))) == 100
    wrong = DetectionSource(tmp_path / "hovernet.json", type_map="lizard", model_um_per_px=40 * PX)
    with pytest.raises(ValueError, match="100 of its 100 cells lie off the slide .* when read at 13 µm/px"):
        wrong.read(PX, slide_shape=(200, 1200))


def test_model_cells_without_a_type_are_counted_and_said(tmp_path):
    """A HoVer-Net file whose cells partly carry no type (null) counted them as 'other' without a word."""
    nuc = {str(i): {"centroid": [100.0 + 10 * i, 50.0], "type": None if i <= 3 else 2} for i in range(1, 11)}
    (tmp_path / "hovernet.json").write_text(json.dumps({"mag": 40, "nuc": nuc}))
    with pytest.warns(UserWarning, match="hovernet.json: 3 of its 10 cells have no type and count as 'other'"):
        cells = DetectionSource(tmp_path / "hovernet.json", type_map="pannuke").read(PX)
    assert cells["class"].value_counts().to_dict() == {"lymphocyte": 7, "other": 3}


def test_our_predictions_of_another_slide_are_said_and_all_off_refused(predicted_table, small_pair, tmp_path):
    """--ours took a prediction table whose cells lie beyond this slide (another, larger slide's)
    and scored nothing without a word, where --model files are checked."""
    from napari_ifcell.io import open_slide
    from napari_ifcell.pipeline.compare import read_models

    with open_slide(small_pair.if_path) as slide:
        shape = tuple(slide.shape[-2:])
    table = predicted_table.copy()
    table.to_parquet(tmp_path / "ours.parquet", index=False)
    assert len(read_models({"ours": tmp_path / "ours.parquet"}, PX, shape)["ours"]) == table["predicted"].notna().sum()
    far = table["Y_centroid"] > shape[0] / 2  # half its cells beyond the slide's bottom edge
    table.loc[far, "Y_centroid"] += shape[0]
    table.to_parquet(tmp_path / "larger.parquet", index=False)
    with pytest.warns(
        UserWarning, match=r"larger.parquet: \d+ of its \d+ cells lie off the slide .* if that is wrong, give"
    ):
        read_models({"ours": tmp_path / "larger.parquet"}, PX, shape)
    table["Y_centroid"] += 2 * shape[0]
    table.to_parquet(tmp_path / "other.parquet", index=False)
    with pytest.raises(
        ValueError, match="other.parquet: .* cells lie off the slide .*; give the prediction table made on this"
    ):
        read_models({"ours": tmp_path / "other.parquet"}, PX, shape)


def test_names_given_twice_are_refused(predicted_table, tmp_path, capsys):
    from napari_ifcell.cli import main

    table = predicted_table
    table.to_parquet(tmp_path / "predicted.parquet", index=False)
    box = ["0", "0", "500", "500"]
    argv = ["compare", str(tmp_path / "predicted.parquet"), "--pixel-size-um", str(PX)]
    ours = ["--ours", str(tmp_path / "predicted.parquet")]
    assert main([*argv, *ours, "--region", "a", *box, "--region", "a", *box]) == 2
    assert "region name(s) 'a' given to more than one region" in capsys.readouterr().err
    _qupath_cells(tmp_path / "q.geojson", [(10, 10, "Tumor")])
    models = ["--model", f"x={tmp_path / 'q.geojson'}", "--model", f"x={tmp_path / 'q.geojson'}"]
    assert main([*argv, *models, "--region", "a", *box]) == 2
    assert "two models are called 'x'" in capsys.readouterr().err


def test_a_region_with_no_pixel_on_the_slide_is_refused(predicted_table, small_pair, tmp_path, capsys):
    """The walk: a region off the slide, or of no size, gave a report of n/a rows and exit 0."""
    from napari_ifcell import cli

    predicted_table.to_parquet(tmp_path / "predicted.parquet", index=False)
    given = ["compare", str(tmp_path / "predicted.parquet"), "--ours", str(tmp_path / "predicted.parquet")]
    assert cli.main([*given, "--pixel-size-um", "0.325", "--region", "zero", "0", "0", "0", "0"]) == 2
    assert "--region zero: H and W must be above 0, got 0 x 0 px" in capsys.readouterr().err
    for box in (["nan", "0", "100", "100"], ["0", "0", "inf", "100"]):  # float() reads both
        assert cli.main([*given, "--pixel-size-um", "0.325", "--region", "odd", *box]) == 2
        assert "--region odd: expected NAME Y X H W, finite numbers of level-0 pixels" in capsys.readouterr().err
    assert cli.main([*given, "--slide", str(small_pair.if_path), "--region", "off", "5000", "5000", "100", "100"]) == 2
    assert "region 'off': no pixel on the slide (" in capsys.readouterr().err
    assert cli.main([*given, "--slide", str(small_pair.if_path), "--region", "on", "0", "0", "300", "300"]) == 0


def test_a_data_set_of_no_cells_is_refused_in_one_line(capsys):
    """The walk: export-dataset -n 0 ended in an IndexError traceback, -n -3 in numpy's words."""
    from napari_ifcell import cli

    for n in ("0", "-3"):
        with pytest.raises(SystemExit) as exited:
            cli.main(
                [
                    "export-dataset",
                    "t.parquet",
                    "--if",
                    "a.tif",
                    "--he",
                    "b.tif",
                    "--labels",
                    "l",
                    "--out",
                    "o",
                    "-n",
                    n,
                ]
            )
        assert exited.value.code == 2 and f"expected 1 or more, got '{n}'" in capsys.readouterr().err


def test_notes_recorded_in_two_threads_at_once_stay_apart_and_warnings_come_back():
    """A quantify in one worker records its notes for minutes while a comparison in another
    records its own: both used the process-wide warnings state, so blocks ending out of order
    left every later warning going into a finished block's list, shown nowhere."""
    import threading
    import warnings

    from napari_ifcell.notes import Note, note, recording_notes

    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    said = {}

    def first():
        with recording_notes() as notes:
            first_in.set()
            second_in.wait(5)
            note("quantify: a guessed pixel size")
        said["first"] = notes
        first_out.set()

    def second():
        with recording_notes() as notes:
            first_in.wait(5)
            second_in.set()
            first_out.wait(5)  # the first block ends while this one is open
            note("compare: a type map guessed")
        said["second"] = notes

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert said == {"first": ["quantify: a guessed pixel size"], "second": ["compare: a type map guessed"]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", Note)
        note("after both")
    assert [str(w.message) for w in caught] == ["after both"]  # shown again, not lost

"""Do our AnnData export and scimap gate CSV phenotype cells in the real scimap as we do?

scimap (labsyspharm) pins old zarr / anndata, so it lives in its own environment:

    python3 -m venv /tmp/scimap-env
    /tmp/scimap-env/bin/pip install scimap "numcodecs<0.16"   # numcodecs 0.16 breaks scimap 2.3's zarr 2.10

Then, from this project's environment:

    python scripts/scimap_compat.py --scimap-python /tmp/scimap-env/bin/python --out scimap_check/

It makes a synthetic pair, quantifies its true nuclei, gates them with the suggested gates
(our phenotypes), writes ``cells.h5ad`` (our AnnData export), ``manual_gates.csv`` (our scimap
gate export: log1p of each positive threshold) and ``phenotype_workflow.csv`` (our phenotype
rules in scimap's pos / neg / anypos words); runs ``sm.pp.rescale`` + ``sm.tl.phenotype_cells``
in the scimap environment; and prints how often scimap's phenotype equals ours. Not in CI:
scimap's environment cannot share ours.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd

SCIMAP_SIDE = """
import sys, warnings
warnings.simplefilter("ignore")
import anndata, pandas as pd, scimap as sm
folder = sys.argv[1]
adata = anndata.read_h5ad(f"{folder}/cells.h5ad")
gates = pd.read_csv(f"{folder}/manual_gates.csv")
adata = sm.pp.rescale(adata, gate=gates, log=True, imageid="imageid", verbose=False)
for name in ("literal", "hierarchical"):
    workflow = pd.read_csv(f"{folder}/workflow_{name}.csv")
    adata = sm.tl.phenotype_cells(adata, phenotype=workflow, gate=0.5, label=name, imageid="imageid", verbose=False)
adata.obs[["CellID", "literal", "hierarchical"]].to_csv(f"{folder}/scimap_phenotypes.csv", index=False)
print("scimap", sm.__version__, "anndata", anndata.__version__)
"""


# Our default rules as scimap users write them: a tree of positive markers (scimap scores a
# phenotype by the mean of its markers' rescaled values, "neg" as 1 - value, so negative-only
# markers can call a cell that is negative for everything).
HIERARCHICAL = [
    ("all", "T cell", {"CD3e": "pos"}),
    ("all", "B cell", {"CD20": "pos"}),
    ("all", "macrophage", {"CD68": "anypos", "CD163": "anypos"}),
    ("T cell", "CD4 T", {"CD4": "pos"}),
    ("T cell", "CD8 T", {"CD8a": "pos"}),
    ("CD4 T", "regulatory T", {"FOXP3": "pos"}),
]


def workflow_csv(rows, path: Path) -> None:
    """scimap's workflow CSV: parent, phenotype, then one column per marker (pos / neg / ...)."""
    markers = sorted({m for _, _, words in rows for m in words})
    table = [{"": parent, "phenotype": name, **dict.fromkeys(markers, ""), **words} for parent, name, words in rows]
    pd.DataFrame(table).to_csv(path, index=False)


def literal_rows(rules) -> list:
    """Our rules word for word (pos / neg / anypos / anyneg), every one under "all"."""
    return [
        ("all", r.name, {m: word for word in ("pos", "neg", "anypos", "anyneg") for m in getattr(r, word)})
        for r in rules
    ]


def main() -> int:
    from napari_ifcell.core.gating import gated_table, suggested_gateset
    from napari_ifcell.core.gating.phenotypes import DEFAULT_PHENOTYPES
    from napari_ifcell.io import open_slide
    from napari_ifcell.io.cell_table import write_anndata
    from napari_ifcell.io.gate_file import export_scimap_gates
    from napari_ifcell.orion import ORION_CHANNELS
    from napari_ifcell.pipeline import quantify_region
    from napari_ifcell.synth import make_synthetic_pair

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scimap-python", required=True, help="python of an environment with scimap")
    parser.add_argument("--out", default="scimap_check", type=Path)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    pair = make_synthetic_pair(args.out / "pair", shape=(args.size, args.size), seed=args.seed)
    with open_slide(pair.if_path) as if_slide, open_slide(pair.labels_path) as labels:
        table = quantify_region(if_slide, labels)
    gates, _ = suggested_gateset(table, slide="slide")
    ours = gated_table(table, gates)
    write_anndata(table, args.out / "cells.h5ad", ORION_CHANNELS, image_id="slide")
    export_scimap_gates(gates, args.out / "manual_gates.csv", image_id="slide")
    workflow_csv(literal_rows(DEFAULT_PHENOTYPES), args.out / "workflow_literal.csv")
    workflow_csv(HIERARCHICAL, args.out / "workflow_hierarchical.csv")

    done = subprocess.run([args.scimap_python, "-c", SCIMAP_SIDE, str(args.out)], capture_output=True, text=True)
    if done.returncode:
        print(done.stderr[-3000:], file=sys.stderr)
        return 1
    print(done.stdout.strip())
    theirs = pd.read_csv(args.out / "scimap_phenotypes.csv").set_index("CellID")
    mine = ours.set_index("CellID")["phenotype"]
    for name in ("hierarchical", "literal"):
        report(name, pd.DataFrame({"ours": mine, "scimap": theirs[name]}).dropna())
    return 0


def report(name: str, both: pd.DataFrame) -> None:
    # scimap has no uncertain band: compare where our gates decided; its "Unknown" and a
    # T cell without CD4 / CD8 are our "other"
    decided = both[~both["ours"].isin(["unknown", "inconsistent"])]
    theirs = decided["scimap"].replace({"Unknown": "other", "T cell": "other"})
    same = decided["ours"] == theirs
    print(f"\n{name} workflow: {len(decided)} of {len(both)} cells decided by our gates")
    print(f"scimap's phenotype = ours on {same.mean():.1%} of them ({same.sum()} / {len(decided)})")
    print(pd.crosstab(decided["ours"], decided["scimap"]).to_string())


if __name__ == "__main__":
    sys.exit(main())

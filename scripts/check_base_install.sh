#!/usr/bin/env bash
# The base install (no extras: no napari, Qt, PyTorch or dask.distributed) in its own virtual
# environment: every module outside the napari layer imports, and the CLI segments, quantifies
# and gates a small synthetic pair. Cluster workers and headless servers install just this.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${BASE_VENV:-.venv-base}
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
rm -rf build  # setuptools would reuse modules a previous build left there
"$venv/bin/python" -m pip install --quiet .

"$venv/bin/python" - <<'PY'
import importlib, pkgutil, sys
import napari_ifcell
names = [i.name for i in pkgutil.walk_packages(napari_ifcell.__path__, "napari_ifcell.")
         if "._napari" not in i.name and not i.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
heavy = sorted(m for m in ("napari", "qtpy", "torch", "distributed", "matplotlib") if m in sys.modules)
assert not heavy, f"the base install imported {heavy}"
print(f"base install: {len(names)} modules import without napari, Qt, torch or distributed")
PY

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cli="$venv/bin/napari-ifcell"
"$cli" synth "$work/pair" --size 768 768 --seed 3 > /dev/null
"$cli" segment "$work/pair/synthetic_if.ome.tif" --backend hoechst > /dev/null
"$cli" quantify "$work/pair/synthetic_if.ome.tif" "$work/pair/synthetic_if.ifcell" --out "$work/cells.parquet" > /dev/null
"$cli" gate "$work/cells.parquet" --save-gates "$work/gates.yaml" --out "$work/gated.csv" > /dev/null
"$venv/bin/python" - "$work" <<'PY'
import sys
import pandas as pd
table = pd.read_csv(f"{sys.argv[1]}/gated.csv")
assert len(table) > 100, f"only {len(table)} cells"
assert table["phenotype"].nunique() >= 3, table["phenotype"].value_counts()
print(f"base install CLI: synth -> segment -> quantify -> gate gave {len(table)} cells, "
      f"{table['phenotype'].nunique()} phenotypes")
PY
# a command that needs an extra says which, in one line, with exit status 2
set +e
msg=$("$cli" train "$work/none" --out "$work/model" 2>&1); status=$?
set -e
[ "$status" -eq 2 ] && [ "$(printf '%s\n' "$msg" | wc -l)" -eq 1 ] && printf '%s\n' "$msg" | grep -q "napari-ifcell\[" \
  || { echo "expected one line naming the extra and exit 2, got status $status: $msg"; exit 1; }
echo "base install: $msg"

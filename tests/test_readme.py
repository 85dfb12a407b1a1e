"""The README's command-line block runs as written, in a fresh folder, as a new user would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_cli_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### From the command line") :]
    return re.search(r"```bash\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
@pytest.mark.torch  # the block trains a model
def test_the_readme_cli_block_runs_as_written(tmp_path):
    block = readme_cli_block()
    assert block.startswith("source .venv/bin/activate")
    (tmp_path / ".venv").symlink_to(Path(sys.prefix))  # the set-up's environment, where the block expects it
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    done = subprocess.run(["bash", "-e", "-c", block], cwd=tmp_path, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    cells = pd.read_parquet(tmp_path / "cells.parquet")
    gated = pd.read_parquet(tmp_path / "gated.parquet")
    assert len(cells) > 500 and gated["phenotype"].notna().all()
    assert (tmp_path / "gates.yaml").is_file() and (tmp_path / "model" / "config.json").is_file()
    predicted = pd.read_parquet(tmp_path / "predicted.parquet")
    assert predicted["predicted"].notna().sum() == len(cells)
    report = pd.read_csv(tmp_path / "report" / "comparison.csv")
    assert report.iloc[:, 0].tolist() == ["left", "right", "Total"]
    assert "| Total |" in done.stdout

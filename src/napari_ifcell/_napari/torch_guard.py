"""Keep PyTorch from loading Triton inside napari.

Creating a torch optimizer imports torch._dynamo, which imports Triton if it is installed
(the CUDA wheels ship it). Triton carries its own LLVM, and loading it into a process whose
OpenGL is Mesa's software renderer (llvmpipe, common on remote desktops and under Xvfb)
crashes the process: napari would die with a segmentation fault. napari-ifcell never
compiles models, so inside the viewer we make ``import triton`` fail cleanly and torch
carries on without it. Headless runs (CLI, dask workers) are not affected.
"""

from __future__ import annotations

import sys


def keep_triton_out() -> None:
    if "triton" not in sys.modules:
        sys.modules["triton"] = None  # `import triton` now raises ImportError

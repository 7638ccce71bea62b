"""seqjax: recurrent sequence models in JAX.

Pure functional cells (:mod:`seqjax.cells`) driven by ``lax.scan``
(:func:`seqjax.scan`), with bidirectional and stacked layers. Heavy modules
(data, training, plots) are imported by their own subpackages, never here.
"""

from seqjax import attention, cells
from seqjax.cells import Cell
from seqjax.recurrence import (
    MERGE_MODES,
    BidirectionalCarry,
    BidirectionalParams,
    bidirectional,
    init_bidirectional,
    init_stacked,
    output_size,
    scan,
    scan_tokens,
    stacked,
)

__version__ = "0.1.0"

__all__ = [
    "cells",
    "attention",
    "Cell",
    "scan",
    "scan_tokens",
    "bidirectional",
    "init_bidirectional",
    "BidirectionalParams",
    "BidirectionalCarry",
    "MERGE_MODES",
    "stacked",
    "init_stacked",
    "output_size",
    "__version__",
]

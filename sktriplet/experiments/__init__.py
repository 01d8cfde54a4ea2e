"""Re-running the paper's experiments: Tables 2 and 3, plots, resumable results."""

from ._data import EMBEDDED_SIZES, ExperimentData, check_layout, load_features
from ._report import mean_ci95, write_report
from ._reproduce import reproduce
from ._runner import Cell, ReproduceConfig, plan_cells, run_cell
from ._selection import BestEpochOnHeldOut

__all__ = [
    "EMBEDDED_SIZES",
    "BestEpochOnHeldOut",
    "Cell",
    "ExperimentData",
    "ReproduceConfig",
    "check_layout",
    "load_features",
    "mean_ci95",
    "plan_cells",
    "reproduce",
    "run_cell",
    "write_report",
]

"""The probe time windows, now in `core.probetiming` so that the verdict rules share them
(issue 15); re-exported here for the linter's rules."""

from podkeeper.core.probetiming import (
    ProbeTiming,
    Window,
    failure_window,
    first_success,
    hang_detection,
    nominal_failure,
    nominal_hang_detection,
)

__all__ = [
    "ProbeTiming",
    "Window",
    "failure_window",
    "first_success",
    "hang_detection",
    "nominal_failure",
    "nominal_hang_detection",
]

"""Moved to :mod:`reconciler.manifest.variables`; this shim keeps old imports working until they move."""

from .manifest.variables import (
    BUILTINS,
    MAX_EXPANDED_LENGTH,
    MAX_RESOLUTION_STEPS,
    MAX_VARIABLE_LENGTH,
    Budget,
    UndefinedVariable,
    VariableBudgetExceeded,
    VariableCycle,
    VariableError,
    VariableTooLong,
    closure,
    expand,
    references,
    resolve,
    tainted,
)

__all__ = [
    "BUILTINS", "MAX_EXPANDED_LENGTH", "MAX_RESOLUTION_STEPS", "MAX_VARIABLE_LENGTH", "Budget",
    "UndefinedVariable", "VariableBudgetExceeded", "VariableCycle", "VariableError", "VariableTooLong",
    "closure", "expand", "references", "resolve", "tainted",
]

"""Interoperability with other libraries.

:mod:`trialstore.interop.optuna` lets Optuna run on trialstore storages and trialstore on
Optuna's storages. Importing this package never imports an optional dependency.
"""

from __future__ import annotations

__all__: list[str] = []

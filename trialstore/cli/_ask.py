"""``trialstore ask``: start a trial of a study and print its number and parameters, so that a
shell script can drive a study with ``ask`` and ``tell`` (private)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from trialstore.cli._errors import UsageError
from trialstore.cli._open import existing_storage
from trialstore.cli._output import add_common, add_flatten, emit
from trialstore.distributions import BaseDistribution, json_to_distribution
from trialstore.logging import get_logger

__all__ = ["SAMPLERS", "register"]

_logger = get_logger(__name__)

#: The values of ``--sampler``: the samplers of ``trialstore.samplers``.
SAMPLERS = ("RandomSampler", "TPESampler")


def register(subparsers: Any) -> None:
    """Add the ``ask`` sub-command."""
    parser = subparsers.add_parser(
        "ask",
        help="start a trial and print its number and parameters",
        description=(
            "Start a trial of an existing study (an enqueued one first) and print its number "
            "and the parameters sampled from --search-space. Finish it with trialstore tell."
        ),
    )
    add_common(parser, default="json")
    parser.add_argument("--study-name", required=True, help="the study (must exist)")
    parser.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default=None,
        help="the sampler (default: the study's default, TPESampler)",
    )
    parser.add_argument(
        "--sampler-kwargs",
        metavar="JSON",
        default=None,
        help="the sampler's keyword arguments as a JSON object, e.g. '{\"seed\": 1}'",
    )
    parser.add_argument(
        "--search-space",
        metavar="JSON",
        default=None,
        help=(
            "a JSON object: parameter name -> distribution as distribution_to_json writes "
            'it, e.g. \'{"x": {"name": "FloatDistribution", "attributes": {"low": 0.0, '
            '"high": 1.0, "step": null, "log": false}}}\''
        ),
    )
    add_flatten(parser, "params")
    parser.set_defaults(func=run)


def _json_object(option: str, text: str) -> dict[str, Any]:
    try:
        loaded = json.loads(text)
    except ValueError as e:
        raise UsageError(f"{option}: not JSON ({e}): {text!r}") from None
    if not isinstance(loaded, dict):
        raise UsageError(f"{option}: expected a JSON object, got {text!r}.")
    return loaded


def search_space(text: str | None) -> dict[str, BaseDistribution]:
    """The distributions of ``--search-space``, in its order (None: none).

    Raises:
        UsageError: not a JSON object of distributions; the message names the parameter.
    """
    if text is None:
        return {}
    space = {}
    for name, value in _json_object("--search-space", text).items():
        try:
            space[name] = json_to_distribution(
                value if isinstance(value, str) else json.dumps(value)
            )
        except ValueError as e:
            raise UsageError(f"--search-space: parameter {name!r}: {e}") from None
    return space


def sampler(name: str | None, kwargs_text: str | None) -> Any:
    """The sampler ``--sampler`` and ``--sampler-kwargs`` ask for (None: the default).

    Raises:
        UsageError: kwargs without a sampler, not a JSON object, or not accepted by it.
    """
    if name is None:
        if kwargs_text is not None:
            raise UsageError("--sampler-kwargs needs --sampler.")
        return None
    import trialstore.samplers

    kwargs = _json_object("--sampler-kwargs", kwargs_text) if kwargs_text is not None else {}
    try:
        return getattr(trialstore.samplers, name)(**kwargs)
    except (TypeError, ValueError) as e:
        raise UsageError(f"--sampler-kwargs: {name} does not accept {kwargs_text}: {e}") from None


def run(args: argparse.Namespace) -> int:
    """Start the trial and print ``{"number": N, "params": {...}}`` (JSON by default).

    The arguments are checked before the storage is opened; it must exist (nothing is
    created).

    Raises:
        UsageError: a bad ``--search-space``, ``--sampler`` or ``--sampler-kwargs``.
        KeyError: no such study.
    """
    from trialstore.study import load_study

    space = search_space(args.search_space)
    chosen = sampler(args.sampler, args.sampler_kwargs)
    with existing_storage(args.storage) as storage:
        study = load_study(study_name=args.study_name, storage=storage, sampler=chosen)
        trial = study.ask(fixed_distributions=space)
        record = {"number": trial.number, "params": dict(trial.params)}
    _logger.info(f"Trial {trial.number} asked, with parameters {record['params']}.")
    emit(
        [record],
        args.format,
        ["number", "params"],
        flatten=args.flatten,
        nested={"params"},
        single=True,
        sort_nested=False,
    )
    return 0

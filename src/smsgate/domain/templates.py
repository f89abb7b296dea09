"""Message templates: ``${name}`` variables filled from the API's ``TemplateParam`` JSON.

A template such as ``Your code is ${code}`` is approved once and then sent many times, so it is
compiled once (cached) into its literal pieces and variable names; rendering is then a single
pass that joins pieces and values. Values are inserted verbatim and never scanned again, so a value
containing ``${other}`` stays as written instead of expanding (no template injection).

Decisions worth knowing:

- A variable name is ASCII letters, digits and underscores (``${code}``, ``${order_id}``). Any other
  ``${...}`` is literal text.
- ``TemplateParam`` numbers keep their JSON spelling (``1.50`` stays ``1.50``, big integers stay
  exact); booleans become ``true``/``false`` as written in JSON; ``null`` counts as not given, so
  rendering reports the variable as missing; ``NaN``/``Infinity`` (not JSON) are refused.
- A value made only of whitespace counts as empty: it would send a message with a hole in it.
- An absent or empty ``TemplateParam`` is an empty object.
- ``max_value_length`` counts characters (code points), as the console shows lengths.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Final, NoReturn

from smsgate import errors
from smsgate.errors import SmsError

__all__ = [
    "VARIABLE_PATTERN",
    "parse_template_param",
    "render",
    "template_variables",
]

#: ``${name}``; the one capture group makes ``re.split`` alternate literal text and names.
VARIABLE_PATTERN: Final = re.compile(r"\$\{([A-Za-z0-9_]+)\}")

_COMPILED_CACHE_SIZE: Final = 4096

_Pieces = tuple[str, ...]
"""``(literal, name, literal, name, ..., literal)``: odd indexes are variable names."""


def template_variables(content: str) -> tuple[str, ...]:
    """Names of the variables of ``content``, each once, in order of first appearance."""
    return tuple(dict.fromkeys(_compile(content)[1::2]))


def parse_template_param(raw: str | None) -> dict[str, str]:
    """Read ``TemplateParam`` (a JSON object of variable values) into strings.

    Raises ``SmsError(isv.INVALID_JSON_PARAM)`` unless ``raw`` is a JSON object whose values are
    strings, numbers, booleans or null.
    """
    if not raw:
        return {}
    try:
        value = json.loads(raw, parse_int=str, parse_float=str, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise SmsError(errors.INVALID_JSON_PARAM, f"TemplateParam is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise SmsError(errors.INVALID_JSON_PARAM, "TemplateParam must be a JSON object")
    return {name: _param_text(name, item) for name, item in value.items() if item is not None}


def render(content: str, params: Mapping[str, str], max_value_length: int | None = None) -> str:
    """Fill the variables of ``content`` from ``params``; extra params are ignored.

    Raises ``SmsError(isv.CONTENT_MISSING_PARAMETERS)`` for a variable missing or empty, and
    ``SmsError(isv.PARAM_LENGTH_LIMIT)`` for a value longer than ``max_value_length`` characters.
    The first offending variable, in template order, is reported.
    """
    pieces = _compile(content)
    out = [pieces[0]]
    for index in range(1, len(pieces), 2):
        out.append(_value(pieces[index], params, max_value_length))
        out.append(pieces[index + 1])
    return "".join(out)


@functools.lru_cache(maxsize=_COMPILED_CACHE_SIZE)
def _compile(content: str) -> _Pieces:
    return tuple(VARIABLE_PATTERN.split(content))


def _value(name: str, params: Mapping[str, str], max_length: int | None) -> str:
    value = params.get(name)
    if value is None:
        raise SmsError(errors.CONTENT_MISSING_PARAMETERS, f"variable {name!r} is missing")
    if not value or value.isspace():
        raise SmsError(errors.CONTENT_MISSING_PARAMETERS, f"variable {name!r} is empty")
    if max_length is not None and len(value) > max_length:
        raise SmsError(
            errors.PARAM_LENGTH_LIMIT,
            f"variable {name!r} has {len(value)} characters; the limit is {max_length}",
        )
    return value


def _param_text(name: str, item: object) -> str:
    # Numbers arrive as their JSON text already (parse_int/parse_float=str).
    if isinstance(item, str):
        return item
    if isinstance(item, bool):
        return "true" if item else "false"
    kind = "an array" if isinstance(item, list) else "an object"
    raise SmsError(errors.INVALID_JSON_PARAM, f"value of {name!r} is {kind}, not text")


def _refuse_constant(constant: str) -> NoReturn:
    raise ValueError(f"{constant} is not JSON")

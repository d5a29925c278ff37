"""AI/ML API's published request schemas: loading them, checking a body as the gateway does.

The schemas are vendored in `schemas/` (see its README for their source and commit). The gateway
validates every `POST /v1/embeddings` body against its model's schema and answers 400 "Body
validation error!" on a violation. `violations()` implements the part of JSON Schema those files
use, with one rule that a generic validator gets wrong: string lengths count as the gateway counts
them, in UTF-16 code units (a JavaScript string's `length`: an emoji counts 2).

The client checks the fixed fields of its body once per call, the emulator checks every request,
and `python -m aimlapi_embeddings.models --check` compares live schemas with the registry.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

__all__ = [
    "BODY_VALIDATION_ERROR",
    "SchemaRules",
    "field_violations",
    "load_index",
    "load_schema",
    "schema_rules",
    "utf16_length",
    "violations",
]

BODY_VALIDATION_ERROR = "Body validation error!"
"""The first line of the gateway's 400 message when a body breaks its model's schema."""

_MAX_REPORTED = 5


def utf16_length(text: str) -> int:
    """`text`'s length as JavaScript counts it: code points outside the BMP count twice."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


@functools.cache
def load_index() -> Mapping[str, Any]:
    """`schemas/index.json`: the source, commit and date, and which models each schema serves."""
    return json.loads(resources.files(__package__).joinpath("schemas/index.json").read_text())  # type: ignore[no-any-return]


@functools.cache
def load_schema(name: str) -> Mapping[str, Any]:
    """The vendored request schema `schemas/<name>.json` (loaded once, on first use)."""
    if name not in load_index()["schemas"]:
        msg = f"no vendored request schema named {name!r}"
        raise KeyError(msg)
    text = resources.files(__package__).joinpath(f"schemas/{name}.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


def field_violations(schema: Mapping[str, Any], fields: Mapping[str, Any]) -> list[str]:
    """What in a body's fields other than `input` breaks `schema` (a valid input stands in)."""
    return violations(schema, {**fields, "input": "x"})


def violations(schema: Mapping[str, Any], body: object) -> list[str]:
    """What in `body` breaks `schema`, one line each (zod's wording, as the gateway says it).

    An empty list means the body is valid. At most a few lines are returned: a list of 2,048
    over-long strings is one problem, not 2,048.
    """
    found: list[str] = []
    _check(schema, body, "", found)
    return found[:_MAX_REPORTED]


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
}


def _received(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _is_type(value: object, expected: str) -> bool:
    if isinstance(value, bool) and expected not in ("boolean",):
        return False  # JSON true is not a number
    if expected == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _JSON_TYPES.get(expected, ()))


# zod's messages for a value of the right shape that breaks a length or range check.
_REFINEMENTS = ("String must contain", "Array must contain", "Number must be")


def _quoted(value: object) -> str:
    return f"'{value}'" if isinstance(value, str) else json.dumps(value)


def _at(path: str, message: str) -> str:
    return f"{message} at {path}" if path else message


def _check(schema: Mapping[str, Any], value: object, path: str, found: list[str]) -> None:
    if len(found) >= _MAX_REPORTED:
        return
    if value is None and schema.get("nullable"):
        return
    if "anyOf" in schema:
        _check_any_of(schema["anyOf"], value, path, found)
        return
    expected = schema.get("type")
    if expected is not None and not _is_type(value, expected):
        found.append(_at(path, f"Expected {expected}, received {_received(value)}"))
        return
    if "enum" in schema and value not in schema["enum"]:
        options = " | ".join(_quoted(option) for option in schema["enum"])
        found.append(
            _at(path, f"Invalid enum value. Expected {options}, received {_quoted(value)}")
        )
        return
    if isinstance(value, str):
        _check_string(schema, value, path, found)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        _check_number(schema, value, path, found)
    elif isinstance(value, list):
        _check_array(schema, value, path, found)
    elif isinstance(value, dict):
        _check_object(schema, value, path, found)


def _check_any_of(
    options: list[Mapping[str, Any]], value: object, path: str, found: list[str]
) -> None:
    reasons: list[list[str]] = []
    for option in options:
        problems: list[str] = []
        _check(option, value, path, problems)
        if not problems:
            return
        reasons.append(problems)
    # As zod's union does: an option whose shape matched and only broke a length or range check
    # reports its own problems ("at most 800 characters" says what to fix); when no option's
    # shape matched (token ids, a number), the union itself is invalid.
    for problems in reasons:
        if all(problem.startswith(_REFINEMENTS) for problem in problems):
            found.extend(problems)
            return
    found.append(_at(path, "Invalid input"))


def _check_string(schema: Mapping[str, Any], value: str, path: str, found: list[str]) -> None:
    low, high = schema.get("minLength"), schema.get("maxLength")
    if low is None and high is None:
        return
    length = utf16_length(value)
    if low is not None and length < low:
        found.append(_at(path, f"String must contain at least {low} character(s)"))
    elif high is not None and length > high:
        found.append(_at(path, f"String must contain at most {high} character(s)"))


def _check_number(schema: Mapping[str, Any], value: float, path: str, found: list[str]) -> None:
    if "minimum" in schema and value < schema["minimum"]:
        found.append(_at(path, f"Number must be greater than or equal to {schema['minimum']}"))
    elif "maximum" in schema and value > schema["maximum"]:
        found.append(_at(path, f"Number must be less than or equal to {schema['maximum']}"))


def _check_array(schema: Mapping[str, Any], value: list[Any], path: str, found: list[str]) -> None:
    if "minItems" in schema and len(value) < schema["minItems"]:
        found.append(_at(path, f"Array must contain at least {schema['minItems']} element(s)"))
        return
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        found.append(_at(path, f"Array must contain at most {schema['maxItems']} element(s)"))
        return
    items = schema.get("items")
    if items is not None:
        for index, item in enumerate(value):
            _check(items, item, f"{path}.{index}" if path else str(index), found)
            if len(found) >= _MAX_REPORTED:
                return


def _check_object(
    schema: Mapping[str, Any], value: dict[str, Any], path: str, found: list[str]
) -> None:
    properties: Mapping[str, Any] = schema.get("properties", {})
    for name in schema.get("required", ()):
        if name not in value:
            found.append(_at(f"{path}.{name}" if path else name, "Required"))
    if schema.get("additionalProperties") is False:
        unknown = [name for name in value if name not in properties]
        if unknown:
            names = ", ".join(f"'{name}'" for name in unknown)
            found.append(_at(path, f"Unrecognized key(s) in object: {names}"))
    for name, item in value.items():
        if name in properties:
            _check(properties[name], item, f"{path}.{name}" if path else name, found)


@dataclass(frozen=True, slots=True)
class SchemaRules:
    """What a model's request schema says that the registry also holds, by the registry's names."""

    max_string_chars: int | None
    """The longest `input` sent as one string, in UTF-16 code units (None: no limit)."""
    max_item_chars: int | None
    """The longest item of an `input` list, likewise."""
    max_items: int | None
    """The most items an `input` list may have (None: no limit)."""
    dimensions: bool
    """Whether the body may carry `dimensions`."""
    dimensions_range: tuple[int, int] | None
    """The range the schema gives `dimensions`, where it gives one."""
    fields: frozenset[str]
    """Every field the schema lists besides `model` and `input`."""
    closed: bool
    """No field the schema does not list is allowed (`additionalProperties: false`)."""


def schema_rules(schema: Mapping[str, Any]) -> SchemaRules:
    """The registry-shaped rules of one model's request schema."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    string_form: Mapping[str, Any] = {}
    list_form: Mapping[str, Any] = {}
    for option in properties.get("input", {}).get("anyOf", ()):
        if option.get("type") == "string":
            string_form = option
        elif option.get("type") == "array":
            list_form = option
    dimensions = properties.get("dimensions", {})
    bounds = (dimensions.get("minimum"), dimensions.get("maximum"))
    return SchemaRules(
        max_string_chars=string_form.get("maxLength"),
        max_item_chars=list_form.get("items", {}).get("maxLength"),
        max_items=list_form.get("maxItems"),
        dimensions="dimensions" in properties,
        dimensions_range=None if None in bounds else bounds,
        fields=frozenset(properties) - {"model", "input"},
        closed=schema.get("additionalProperties") is False,
    )

"""The registry against the live catalogue: models the API serves that we lack, rules that differ.

`GET {base_url}/models` needs no key. Each embedding model's entry names a `docsJson` URL serving
the OpenAPI description of its endpoint, whose request body schema is the one the gateway
enforces. `compare()` is pure: it says where one registry row and one published schema (and
context length) disagree, by building the bodies the client sends and validating them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from .. import _network
from .._body import ACCEPT_ENCODING
from .._errors import ResponseError
from .._schema import field_violations, load_schema, schema_rules
from .._transport import read_body
from . import MODELS, ModelSpec, get_model_spec

__all__ = ["CatalogueError", "CheckReport", "check_catalogue", "compare", "request_schema_of"]

_CHECK_TIMEOUT = httpx.Timeout(20.0, connect=10.0)
# Each fetch as a whole, however slowly the server sends: the catalogue or one docsJson.
FETCH_SECONDS = 30.0
# The whole check, the catalogue and every schema: each fetch is bounded, but a catalogue of
# many entries whose schemas each drip for nearly FETCH_SECONDS would add them up.
CHECK_SECONDS = 300.0
# The catalogue of every model is about 1 MB, a docsJson about 20 KB: far more is no answer.
MOST_CATALOGUE_BYTES = 32 << 20
MOST_DOCS_BYTES = 4 << 20


class CatalogueError(ValueError):
    """The catalogue or a model's docsJson could not be read as one: too large, too slow, not
    JSON, or JSON of another shape. `--check` says so in one line and exits 2, not 1 (drift)."""


# A printed line holding what a server wrote is cut to this many characters (a 20 MB model id
# was printed whole); the longest honest line, every model of the registry listed, is ~600.
PRINTED_CHARS = 4_000


def printable(text: str) -> str:
    """`text` with control characters escaped, and cut: what a server wrote may not drive the
    terminal (an escape sequence can clear the screen and print a fake verdict) nor flood it."""
    cut = f"... ({len(text):,} characters)" if len(text) > PRINTED_CHARS else ""
    return (
        "".join(
            char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
            for char in text[:PRINTED_CHARS]
        )
        + cut
    )


def _chars(string: int | None, item: int | None) -> str:
    return f"{string or 'no limit'} as one string / {item or 'no limit'} per list item"


def compare(
    spec: ModelSpec, schema: Mapping[str, Any] | None, context_length: int | None = None
) -> list[str]:
    """Where `spec` and the published `schema` / catalogue `context_length` disagree."""
    problems: list[str] = []
    if schema is not None:
        problems += _against_schema(spec, schema)
    listed = spec.docs_context or spec.context_tokens
    if context_length is not None and context_length != listed:
        problems.append(f"context: the catalogue says {context_length}, the registry {listed}")
    return problems


def _against_schema(spec: ModelSpec, schema: Mapping[str, Any]) -> list[str]:
    rules = schema_rules(schema)
    problems: list[str] = []
    published = (rules.max_string_chars, rules.max_item_chars)
    if published != (spec.max_string_chars, spec.max_item_chars):
        problems.append(
            f"input characters: the schema allows {_chars(*published)}, the registry "
            f"{_chars(spec.max_string_chars, spec.max_item_chars)}"
        )
    if rules.max_items is not None and rules.max_items < spec.max_inputs:
        problems.append(
            f"inputs per request: the schema allows {rules.max_items}, the registry sends up to "
            f"{spec.max_inputs}"
        )
    if spec.dimensions_range is not None:
        if not rules.dimensions:
            problems.append("the registry sends `dimensions`; the schema no longer lists it")
        elif rules.dimensions_range not in (None, spec.dimensions_range):
            problems.append(
                f"dimensions: the schema allows {rules.dimensions_range}, the registry "
                f"{spec.dimensions_range}"
            )
    # Every body the client can build for this model must pass the schema; an open schema
    # (no additionalProperties: false) must still list every field the client sends.
    widths: list[int | None] = [None]
    if spec.dimensions_range is not None:
        widths += list(spec.dimensions_range)
    for role in ("document", "query"):
        for width in widths:
            fields = spec.request_fields(role, width)
            found = field_violations(schema, fields)
            found += [
                f"the schema does not list `{name}`"
                for name in fields
                if name not in rules.fields | {"model"}
            ]
            problems += [
                f"a {role} request breaks the schema: {problem}"
                for problem in found
                if f"a {role} request breaks the schema: {problem}" not in problems
            ]
    return problems


def request_schema_of(openapi: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The `POST /v1/embeddings` request body schema in a model's `docsJson`, or None."""
    try:
        content = openapi["paths"]["/v1/embeddings"]["post"]["requestBody"]["content"]
        schema: Mapping[str, Any] = content["application/json"]["schema"]
    except (KeyError, TypeError):
        return None
    reference = schema.get("$ref") if isinstance(schema, Mapping) else None
    if isinstance(reference, str) and reference.startswith("#/"):
        target: Any = openapi
        for part in reference[2:].split("/"):
            target = target.get(part) if isinstance(target, Mapping) else None
        return target if isinstance(target, Mapping) else None
    return schema if isinstance(schema, Mapping) else None


@dataclass
class CheckReport:
    """What `--check` found; `drift` is True when anything needs the registry's attention."""

    missing: list[str] = field(default_factory=list)
    """Embedding models the API serves that the registry lacks."""
    disagree: dict[str, list[str]] = field(default_factory=dict)
    """Registry models whose rules differ from what the API publishes."""
    not_served: list[str] = field(default_factory=list)
    """Models the registry calls active that the catalogue does not list."""
    checked: int = 0

    @property
    def drift(self) -> bool:
        return bool(self.missing or self.disagree or self.not_served)

    def lines(self) -> list[str]:
        out = [f"checked {self.checked} embedding models of the catalogue"]
        out += [f"MISSING from the registry: {name}" for name in self.missing]
        for name, problems in self.disagree.items():
            out += [f"DISAGREES {name}: {problem}" for problem in problems]
        out += [f"NOT SERVED although active in the registry: {name}" for name in self.not_served]
        out.append("drift found" if self.drift else "no drift: the registry matches the catalogue")
        return [printable(line) for line in out]


def _is_embedding_model(entry: Mapping[str, Any]) -> bool:
    kind = entry.get("type")
    return isinstance(kind, str) and "embedding" in kind.lower()


def _registry_spec(entry: Mapping[str, Any]) -> ModelSpec | None:
    aliases = entry.get("aliases")
    names = [entry.get("id"), *(aliases if isinstance(aliases, list) else [])]
    for name in names:
        if isinstance(name, str):
            spec = get_model_spec(name)
            if spec.name in MODELS:
                return spec
    return None


def _fetch_json(http: httpx.Client, url: str, most_bytes: int, deadline: float) -> Any:
    """GET `url` as JSON, within `FETCH_SECONDS` as a whole (and by `deadline`, the check's,
    on `time.monotonic()`) and `most_bytes` once decoded.

    Read as the embeddings' answers are (`BodyReader`): gzip or deflate only, inflated under
    the cap, so a compressed bomb is refused without being inflated (httpx's own decoders
    inflate a whole chunk at once, and would take zstd or brotli too).
    """
    headers = {"Accept-Encoding": ACCEPT_ENCODING}
    try:
        request = http.build_request("GET", url, headers=headers)
    except httpx.InvalidURL:  # not an httpx.HTTPError: it would end in a traceback, exit 1
        msg = f"{printable(url)} is not a URL that can be fetched"
        raise CatalogueError(msg) from None
    seconds = min(FETCH_SECONDS, deadline - time.monotonic())
    if seconds <= 0:
        msg = (
            f"the check took more than {CHECK_SECONDS:g} s in all; stopped before {printable(url)}"
        )
        raise CatalogueError(msg)
    with _network.attempt(seconds, None):
        response = http.send(request, stream=True)
        try:
            response.raise_for_status()
            body = _read_body(response, url, most_bytes)
        finally:
            response.close()
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        msg = f"{url} did not send JSON that can be read ({type(exc).__name__})"
        raise CatalogueError(msg) from None


def _read_body(response: httpx.Response, url: str, most_bytes: int) -> bytearray:
    try:
        # Any 2xx is read as a 200 is: whole, or refused over the cap.
        return read_body(response, most_bytes, status=200).body()
    except ResponseError as exc:
        raise CatalogueError(f"{printable(url)}: {exc}") from None


def check_catalogue(base_url: str, client: httpx.Client | None = None) -> CheckReport:
    """Read the live catalogue and every embedding model's schema; compare with the registry.

    Raises `CatalogueError` (or an `httpx.HTTPError`) when either cannot be read."""
    http = client or _network.guard(httpx.Client(timeout=_CHECK_TIMEOUT, follow_redirects=False))
    try:
        return _check(base_url, http)
    except (TypeError, AttributeError, KeyError, RecursionError) as exc:
        # JSON of another shape than the API's (a list for the catalogue, properties that are
        # not an object): the answer is unusable, which is not drift.
        msg = f"an answer of {base_url} has an unexpected shape ({type(exc).__name__})"
        raise CatalogueError(msg) from None
    finally:
        if client is None:
            http.close()


def _check(base_url: str, http: httpx.Client) -> CheckReport:
    deadline = time.monotonic() + CHECK_SECONDS
    catalogue = _fetch_json(http, f"{base_url.rstrip('/')}/models", MOST_CATALOGUE_BYTES, deadline)
    data = catalogue.get("data", []) if isinstance(catalogue, Mapping) else None
    if not isinstance(data, list):
        msg = f"{base_url}/models is not a catalogue: no list of models under `data`"
        raise CatalogueError(msg)
    report = CheckReport()
    served: set[str] = set()
    schemas: dict[str, Any] = {}  # each docsJson fetched once, however often it is listed
    for entry in data:
        if not isinstance(entry, Mapping) or not _is_embedding_model(entry):
            continue
        report.checked += 1
        spec = _registry_spec(entry)
        if spec is None:
            report.missing.append(str(entry.get("id")))
            continue
        served.add(spec.name)
        info = entry.get("info")
        info = info if isinstance(info, Mapping) else {}
        context = info.get("contextLength")
        schema = None
        docs = info.get("docsJson")
        if isinstance(docs, str) and docs.startswith(("https://", "http://")):
            if docs not in schemas:
                schemas[docs] = _fetch_json(http, docs, MOST_DOCS_BYTES, deadline)
            schema = request_schema_of(schemas[docs])
        problems = compare(spec, schema, context if isinstance(context, int) else None)
        if schema is None:
            problems.append("no request schema could be read from its docsJson")
        elif spec.schema is not None and schema != load_schema(spec.schema):
            problems.append(
                f"the published schema differs from the vendored schemas/{spec.schema}.json: "
                "update the copy, then the registry"
            )
        if spec.status == "removed":
            since = f" on {spec.status_since}" if spec.status_since else ""
            problems.insert(0, f"served, but the registry says it was removed{since}")
        if problems:
            report.disagree[spec.name] = problems
    report.not_served = [
        spec.name for spec in MODELS.values() if spec.status == "active" and spec.name not in served
    ]
    return report

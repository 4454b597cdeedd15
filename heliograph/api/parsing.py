"""Request bodies as Statuspage takes them: JSON, or form-encoded with bracketed keys.

``incident[name]=x&incident[components][abc]=major_outage&incident[component_ids][]=abc``
becomes ``{"incident": {"name": "x", "components": {"abc": "major_outage"},
"component_ids": ["abc"]}}``, so both encodings meet the same schema (values stay text;
pydantic reads "true", "1" and the like into booleans and numbers).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.parser import Parser

MAX_DEPTH = 5
MAX_FIELDS = 1000  # parse_qsl raises past this: a 400, not a memory blow-up
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def split_key(key: str) -> list[str]:
    """``incident[components][abc]`` -> ["incident", "components", "abc"]; ``[]`` -> ""."""
    match = _KEY.match(key)
    if not match:
        raise HttpError(400, f"Cannot read the form field name {key!r}")
    parts = [match[1]] + re.findall(r"\[([^\[\]]*)\]", match[2])
    if len(parts) > MAX_DEPTH:
        raise HttpError(400, f"The form field name {key!r} is nested too deeply")
    return parts


def _insert(target: dict[str, Any], parts: list[str], value: str, key: str) -> None:
    node: Any = target
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        following = None if last else parts[i + 1]
        if part == "":  # "name[]": append to a list
            if not isinstance(node, list):
                raise HttpError(400, f"The form field {key!r} mixes lists and objects")
            if last:
                node.append(value)
                return
            node.append({})
            node = node[-1]
            continue
        if not isinstance(node, dict):
            raise HttpError(400, f"The form field {key!r} mixes lists and objects")
        if last:
            node[part] = value
            return
        node = node.setdefault(part, [] if following == "" else {})


def nest_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in pairs:
        _insert(data, split_key(key), value, key)
    return data


def _looks_like_json(request: HttpRequest) -> bool:
    return request.body.lstrip()[:1] == b"{"


class StatuspageParser(Parser):
    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        content_type = request.content_type or ""
        # curl -d sends JSON labelled as a form unless told otherwise; read it as what it is.
        if content_type == "application/x-www-form-urlencoded" and not _looks_like_json(request):
            text = request.body.decode("utf-8", errors="replace")
            return nest_form(parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS))
        if content_type.startswith("multipart/"):
            raise HttpError(400, "Send JSON or application/x-www-form-urlencoded bodies")
        try:
            data = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            raise HttpError(400, "The request body is not valid JSON") from None
        except RecursionError:  # the decoder recurses once per level of [ or {
            raise HttpError(400, "The request body is nested too deeply") from None
        if not isinstance(data, dict):
            raise HttpError(400, "The request body must be a JSON object")
        return data

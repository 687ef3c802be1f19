"""Validating the simulator's answers against an official Learn OpenAPI document (Swagger 2.0).

The document is used whole as the resolution root, so ``#/definitions/...`` refs resolve. Each
body is checked twice: against the operation's response schema (Draft 4), and for properties
the schema does not declare (the spec allows extras; a faithful simulator invents none).

One known deviation is patched, and only it: the spec types ``RestException.status`` as a
string, while Learn sends a number (docs/learn-api.md section 5), so the simulator does too.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4
from tests.simulator.simclient import API, Reply

BASE = "urn:learn-openapi"


def load(path: Path, rest_exception: str) -> dict[str, Any]:
    """The document at ``path`` with ``RestException.status`` a number, as Learn sends it."""
    document: dict[str, Any] = json.loads(path.read_text())
    patched = copy.deepcopy(document)
    patched["definitions"][rest_exception]["properties"]["status"] = {"type": "integer"}
    return patched


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class Checker:
    """Validates bodies against the schema an operation declares for a status."""

    def __init__(self, spec: dict[str, Any], rest_exception: str = "RestException") -> None:
        self.spec = spec
        self.rest_exception = rest_exception
        resource = Resource.from_contents(spec, default_specification=DRAFT4)
        self.registry: Registry[Any] = Registry().with_resource(BASE, resource)

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            name = schema["$ref"].removeprefix("#/definitions/")
            schema = self.spec["definitions"][name]
        return schema

    def declared(self, template: str, method: str = "get") -> dict[str, Any]:
        """The responses an operation declares (empty when it declares none)."""
        operation = self.spec["paths"][API.rstrip("/") + "/" + template][method]
        responses: dict[str, Any] = operation.get("responses", {})
        return responses

    def schema_for(self, template: str, method: str, status: int) -> dict[str, Any]:
        if str(status) in self.declared(template, method):
            return {"$ref": f"{BASE}#/{_pointer('paths', API.rstrip('/') + '/' + template)}"
                    f"/{method}/responses/{status}/schema"}  # fmt: skip
        assert status >= 400, f"{template} does not declare {status}"
        return {"$ref": f"{BASE}#/definitions/{self.rest_exception}"}

    def undeclared(self, body: Any, schema: dict[str, Any], where: str = "") -> list[str]:
        """Properties in ``body`` that ``schema`` does not declare."""
        if "$ref" in schema and schema["$ref"].startswith(BASE):
            path = schema["$ref"].removeprefix(BASE + "#/").split("/")
            node: Any = self.spec
            for part in path:
                node = node[part.replace("~1", "/").replace("~0", "~")]
            schema = node
        schema = self._resolve(schema)
        found: list[str] = []
        if isinstance(body, dict) and "properties" not in schema:
            return found  # typed only as "object" (as 3900.123 types its lists): free-form
        if isinstance(body, dict):
            properties = schema.get("properties", {})
            for key, value in body.items():
                if key not in properties:
                    found.append(f"{where}.{key}")
                else:
                    found += self.undeclared(value, properties[key], f"{where}.{key}")
        elif isinstance(body, list):
            for item in body:
                found += self.undeclared(item, schema.get("items", {}), f"{where}[]")
        return found

    def validate(self, body: Any, schema: dict[str, Any], what: str) -> None:
        """``body`` fits ``schema`` (refs into the document resolve) and declares all it holds."""
        validator = Draft4Validator(schema, registry=self.registry)
        errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
        assert not errors, f"{what}: {errors[:5]}"
        assert not self.undeclared(body, schema), f"{what}: {self.undeclared(body, schema)}"

    def check(self, template: str, reply: Reply, method: str = "get") -> None:
        schema = self.schema_for(template, method, reply.status)
        self.validate(reply.json(), schema, f"{template} {reply.status}")

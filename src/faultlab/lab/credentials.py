"""Credentials as environment references ("${VAR}"): literal secrets are refused, resolved values are masked."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from faultlab.lab.errors import ConfigError, Issue

REF_RE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
MASK = "********"


class SecretValue:
    """A resolved secret. str()/repr() never show it; only `reveal()` does (call it where it is used)."""

    __slots__ = ("_ref", "_value")

    def __init__(self, ref: SecretRef, value: str) -> None:
        self._ref = ref
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"SecretValue({self._ref}={MASK})"


class SecretRef:
    """An inventory credential: the name of an environment variable. str() is "${VAR}", never the value.

    `where` (file, line, key of the reference) is filled in by the inventory loader so that a missing
    variable is reported at the key that asked for it."""

    __slots__ = ("var", "where")

    def __init__(self, var: str, where: Issue | None = None) -> None:
        self.var = var
        self.where = where

    @classmethod
    def parse(cls, text: object) -> SecretRef:
        if isinstance(text, SecretRef):
            return text
        if not isinstance(text, str):
            raise PydanticCustomError("secret_ref", "a credential must be an environment reference like ${VAR}")
        m = REF_RE.match(text.strip())
        if m is None:
            # Never echo the value: it may be a real password typed in by mistake.
            raise PydanticCustomError(
                "literal_secret",
                "literal secrets are refused: write an environment reference such as ${FAULTLAB_PASSWORD} "
                "(or use a key file)",
            )
        return cls(m.group(1))

    def resolve(self, environ: Mapping[str, str] | None = None) -> SecretValue:
        """The value of the variable; a missing or empty one is a ConfigError naming the key and the variable."""
        env = os.environ if environ is None else environ
        value = env.get(self.var)
        if not value:
            state = "is not set" if value is None else "is empty"
            at = self.where or Issue("<inventory>", None, "", "")
            raise ConfigError(Issue(at.file, at.line, at.key, f"environment variable {self.var} {state}"))
        return SecretValue(self, value)

    def __str__(self) -> str:
        return "${" + self.var + "}"

    def __repr__(self) -> str:
        return f"SecretRef({self})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretRef) and other.var == self.var

    def __hash__(self) -> int:
        return hash(("SecretRef", self.var))

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.parse, serialization=core_schema.plain_serializer_function_ser_schema(str)
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "string",
            "pattern": REF_RE.pattern,
            "description": "an environment variable reference, ${VAR}; literal secrets are refused",
        }

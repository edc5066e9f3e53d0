"""Where Litestar's OpenAPI generation says less than the service enforces, said here.

- A struct that refuses unknown fields (`forbid_unknown_fields`) is `additionalProperties: false`.
- msgspec constraints inside a union or a container (`Annotated[int, Meta(ge=1)] | None`,
  `list[Tag]`, the keys of `dict[LanguageTag, str]`) reach the document; Litestar keeps only
  those of a field's own type.
- A generic struct named with `schema_name` (`service.api.pagination`) has that name as its title too.
- A route that needs no token says `security: []` instead of inheriting the document's bearer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec.inspect as mi
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi.spec import Operation, Reference, Schema
from litestar.openapi.spec.enums import OpenAPIType

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.typing import FieldDefinition

_BOUNDS = (
    ("ge", "minimum"),
    ("le", "maximum"),
    ("gt", "exclusive_minimum"),
    ("lt", "exclusive_maximum"),
    ("multiple_of", "multiple_of"),
)
_SCALARS: dict[type, str] = {
    mi.StrType: OpenAPIType.STRING,
    mi.IntType: OpenAPIType.INTEGER,
    mi.FloatType: OpenAPIType.NUMBER,
    mi.ListType: OpenAPIType.ARRAY,
    mi.SetType: OpenAPIType.ARRAY,
    mi.FrozenSetType: OpenAPIType.ARRAY,
    mi.VarTupleType: OpenAPIType.ARRAY,
    mi.DictType: OpenAPIType.OBJECT,
}


def _set(schema: Schema, name: str, value: Any) -> None:
    if value is not None and getattr(schema, name) is None:
        setattr(schema, name, value)


def _constrain(schema: Schema | Reference | None, info: mi.Type) -> None:
    """Copy msgspec's constraints of `info` onto `schema` (and its members, items, values) where missing."""
    if isinstance(info, mi.Metadata):
        info = info.type
    if not isinstance(schema, Schema):
        return  # a component (constrained by its own plugin call) or nothing
    if isinstance(info, mi.UnionType):
        members = [t for t in info.types if not isinstance(t, mi.NoneType)]
        for sub in schema.one_of or [schema]:
            for member in members:
                kind = _SCALARS.get(type(member.type if isinstance(member, mi.Metadata) else member))
                if isinstance(sub, Schema) and kind is not None and sub.type == kind:
                    _constrain(sub, member)
        return
    if isinstance(info, mi.StrType):
        _set(schema, "min_length", info.min_length)
        _set(schema, "max_length", info.max_length)
        _set(schema, "pattern", info.pattern)
    elif isinstance(info, (mi.IntType, mi.FloatType)):
        for bound, name in _BOUNDS:
            _set(schema, name, getattr(info, bound))
    elif isinstance(info, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
        _set(schema, "min_items", info.min_length)
        _set(schema, "max_items", info.max_length)
        _constrain(schema.items if isinstance(schema.items, (Schema, Reference)) else None, info.item_type)
    elif isinstance(info, mi.DictType):
        _set(schema, "min_properties", info.min_length)
        _set(schema, "max_properties", info.max_length)
        values = schema.additional_properties
        _constrain(values if isinstance(values, (Schema, Reference)) else None, info.value_type)
        keys = info.key_type.type if isinstance(info.key_type, mi.Metadata) else info.key_type
        if (
            schema.property_names is None
            and isinstance(keys, mi.StrType)
            and (keys.pattern or keys.max_length)
        ):
            schema.property_names = Schema(type=OpenAPIType.STRING)
            _constrain(schema.property_names, keys)


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """Litestar's msgspec struct schemas, completed (see the module docstring)."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        struct = field_definition.type_
        info = mi.type_info(struct)
        assert isinstance(info, mi.StructType)
        for field in info.fields:
            _constrain((schema.properties or {}).get(field.encode_name), field.type)
        if struct.__struct_config__.forbid_unknown_fields:
            schema.additional_properties = False
        named = getattr(field_definition.kwarg_definition, "schema_component_key", None)
        if named:
            schema.title = named  # not "Page[Tenant]": the component's name
        return schema


@dataclass
class PublicOperation(Operation):
    """An operation open without a token: `security: []` (Litestar drops an empty list, and the
    operation would then inherit the document's bearer requirement)."""

    def __post_init__(self) -> None:
        self.security = []

"""The pydantic surface of the generated protocol types, for code written against the official ``openai_codex``.

The official SDK returns pydantic models; its users call ``model_dump()``, ``model_validate()`` and friends on
them, and read ``.value`` off its enums. The generated msgspec Structs (:mod:`.generated`) get the same calls
from :class:`PydanticCompat`, the mixin of their ``_Base``; the enums get theirs from :class:`OpenEnum` (the
official enums with a ``_missing_``) and :class:`RootEnum` (where the official has a pydantic ``RootModel`` over
string values, like ``ReasoningSummary``). None of this is on the hot path: msgspec still decodes and encodes
the wire, and this module is plain Python, run only when user code calls it. What ``model_dump`` and the others
give, and where they differ from pydantic, is in ``docs/python-parity-checklist.md`` ("The pydantic surface").
"""

from __future__ import annotations

import copy
import enum
import re
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal, Self, TypeAlias, Union, get_args, get_origin

import msgspec

__all__ = ["FieldInfo", "IncEx", "NonEmptyOpenEnum", "OpenEnum", "PydanticCompat", "RootEnum"]

#: pydantic's ``include``/``exclude`` argument: a set of keys, or a dict of keys to ``True`` or to a nested one.
IncEx: TypeAlias = set[int] | set[str] | Mapping[int, Any] | Mapping[str, Any]
# A normalized IncEx: None (no constraint), True (the whole value) or a dict of keys to the same.
_Spec: TypeAlias = "dict[Any, _Spec] | bool | None"

_ALL = "__all__"
_SCALARS = (str, int, float, bool, type(None))
_UNION_ORIGINS: tuple[Any, ...] = (Union, type(int | str))


class FieldInfo:
    """What ``model_fields`` holds for a field: the few attributes of pydantic's ``FieldInfo`` that apply.

    ``alias`` is the wire name when it differs from the Python name (else None, as in pydantic); ``default`` is
    :data:`msgspec.NODEFAULT` for a required field or one with a ``default_factory``.
    """

    __slots__ = ("alias", "annotation", "default", "default_factory")

    def __init__(
        self, annotation: Any, default: Any, default_factory: Callable[[], Any] | None, alias: str | None
    ) -> None:
        self.annotation = annotation
        self.default = default
        self.default_factory = default_factory
        self.alias = alias

    def is_required(self) -> bool:
        """True when the field has neither a default nor a default factory."""
        return self.default is msgspec.NODEFAULT and self.default_factory is None

    def get_default(self, *, call_default_factory: bool = False) -> Any:
        """The default (the factory's result with ``call_default_factory=True``); ``NODEFAULT`` if required."""
        if self.default_factory is not None:
            return self.default_factory() if call_default_factory else None
        return self.default

    def __repr__(self) -> str:
        parts = [f"annotation={self.annotation!r}"]
        if self.is_required():
            parts.append("required=True")
        elif self.default_factory is not None:
            parts.append(f"default_factory={getattr(self.default_factory, '__name__', self.default_factory)}")
        else:
            parts.append(f"default={self.default!r}")
        if self.alias is not None:
            parts.append(f"alias={self.alias!r}")
        return f"FieldInfo({', '.join(parts)})"


class _Slot:
    """One key of a dump: a field, or the tag of a union member (``tag`` holds its value)."""

    __slots__ = ("attr", "default", "info", "is_tag", "optional", "tag", "wire")

    def __init__(self, attr: str, wire: str, info: FieldInfo, *, tag: str | None = None) -> None:
        self.attr = attr
        self.wire = wire
        self.info = info
        self.is_tag = tag is not None
        self.tag = tag
        self.default: Any = msgspec.NODEFAULT  # what exclude_defaults drops (see _dropped_default)
        self.optional = False  # an alternative: left out when None


class _Plan:
    """What a Struct class dumps, in the official field order; built once per class."""

    __slots__ = ("fields", "hints", "slots", "wire_of")

    def __init__(self, cls: type[msgspec.Struct]) -> None:
        infos = msgspec.structs.fields(cls)
        alternatives = set(getattr(cls, "_alternatives", ()))
        slots = []
        self.hints: dict[str, Any] = {}  # wire name -> type, for model_validate
        for info in infos:
            factory = None if info.default_factory is msgspec.NODEFAULT else info.default_factory
            alias = None if info.encode_name == info.name else info.encode_name
            slot = _Slot(info.name, info.encode_name, FieldInfo(info.type, info.default, factory, alias))
            slot.default = _dropped_default(info.default, factory)
            slot.optional = info.name in alternatives
            slots.append(slot)
            self.hints[info.encode_name] = info.type
        config = cls.__struct_config__
        if isinstance(config.tag_field, str) and isinstance(config.tag, str):
            # the official models have the tag as a (required) field
            attr = _snake(config.tag_field)
            alias = None if attr == config.tag_field else config.tag_field
            tag_info = FieldInfo(Literal[config.tag], msgspec.NODEFAULT, None, alias)
            slots.append(_Slot(attr, config.tag_field, tag_info, tag=config.tag))
        order = getattr(cls, "_order", ())  # wire names, where the official order is not the sorted one
        position = {wire: index for index, wire in enumerate(order)}
        slots.sort(key=lambda slot: (position.get(slot.wire, len(order)), slot.wire))
        self.slots: tuple[_Slot, ...] = tuple(slots)
        self.fields = {slot.attr: slot.info for slot in slots}
        self.wire_of = {slot.attr: slot.wire for slot in slots}  # the tag's too


def _snake(name: str) -> str:
    """The Python name of a wire name, as bin/generate-protocol makes it (``handlerType`` -> ``handler_type``)."""
    text = re.sub(r"[^0-9A-Za-z]+", "_", name)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    return re.sub(r"_+", "_", text).strip("_").lower()


def _dropped_default(default: Any, factory: Callable[[], Any] | None) -> Any:
    """The value ``exclude_defaults`` drops for a field, or NODEFAULT when it never drops it.

    A default made of members of a closed Enum is never dropped, as in the official models: their default is the
    plain string (``history_mode = "legacy"``), which their (non-str) Enum members never equal.
    """
    value = default if factory is None else factory()
    items = value if isinstance(value, list) else [value]
    if any(isinstance(item, enum.Enum) and not isinstance(item, OpenEnum) for item in items):
        return msgspec.NODEFAULT
    return value


_PLANS: dict[type, _Plan] = {}


def _plan(cls: type[Any]) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = _Plan(cls)
    return plan


class _ModelFields:
    """``Model.model_fields``: Python field name -> :class:`FieldInfo`, the tag of a union member included."""

    def __get__(self, obj: object, owner: type[Any]) -> dict[str, FieldInfo]:
        return _plan(owner).fields


# -- model_dump ----------------------------------------------------------------------------------------------


class _Options:
    __slots__ = ("by_alias", "exclude_defaults", "exclude_none", "json")

    def __init__(self, *, json: bool, by_alias: bool, exclude_none: bool, exclude_defaults: bool) -> None:
        self.json = json
        self.by_alias = by_alias
        self.exclude_none = exclude_none
        self.exclude_defaults = exclude_defaults


def _spec(value: Any) -> _Spec:
    """Normalize an ``include``/``exclude`` argument (or one of its nested values)."""
    if value is None or value is False:
        return None
    if value is True or value is Ellipsis:
        return True
    if isinstance(value, Mapping):
        out: dict[Any, _Spec] = {}
        for key, item in value.items():
            nested = _spec(item)
            if nested is not None:
                out[key] = nested
        return out
    if isinstance(value, set | frozenset | list | tuple):
        return dict.fromkeys(value, True)
    raise TypeError(f"include/exclude must be a set or a dict, not {type(value).__name__}")


def _merge(a: _Spec, b: _Spec) -> _Spec:
    if a is None:
        return b
    if b is None:
        return a
    if a is True or b is True:
        return True
    assert isinstance(a, dict) and isinstance(b, dict)
    merged = dict(a)
    for key, value in b.items():
        merged[key] = _merge(merged.get(key), value)
    return merged


def _child(spec: _Spec, key: Any) -> _Spec:
    """The part of ``spec`` for the value at ``key`` (its own entry merged with ``__all__``)."""
    if not isinstance(spec, dict):
        return None
    return _merge(spec.get(key), spec.get(_ALL))


def _keeps(include: _Spec, exclude: _Spec, key: Any) -> bool:
    if isinstance(include, dict) and key not in include and _ALL not in include:
        return False
    return not (isinstance(exclude, dict) and (exclude.get(key) is True or exclude.get(_ALL) is True))


def _indexes(spec: _Spec, size: int) -> _Spec:
    """``spec`` with its list indexes taken modulo ``size``, as pydantic does (``-1`` is the last item)."""
    if not isinstance(spec, dict) or not size or all(not isinstance(key, int) or 0 <= key < size for key in spec):
        return spec
    out: dict[Any, _Spec] = {}
    for key, value in spec.items():
        index = key % size if isinstance(key, int) else key
        out[index] = _merge(out.get(index), value)
    return out


def _dump_struct(obj: Any, options: _Options, include: _Spec, exclude: _Spec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for slot in _plan(type(obj)).slots:
        attr = slot.attr
        if (include is not None or exclude is not None) and not _keeps(include, exclude, attr):
            continue
        if slot.is_tag:
            out[slot.wire if options.by_alias else attr] = slot.tag
            continue
        value = getattr(obj, attr)
        if value is None and (options.exclude_none or slot.optional):
            continue
        if options.exclude_defaults and slot.default is not msgspec.NODEFAULT and value == slot.default:
            continue
        key = slot.wire if options.by_alias else attr
        if type(value) in _SCALARS:
            out[key] = value
        else:
            out[key] = _dump_value(value, options, _child(include, attr), _child(exclude, attr))
    return out


def _dump_value(value: Any, options: _Options, include: _Spec, exclude: _Spec) -> Any:
    if type(value) in _SCALARS:
        return value
    if isinstance(value, PydanticCompat):
        return _dump_struct(value, options, include, exclude)
    if isinstance(value, enum.Enum):
        return value.value if options.json else value
    if isinstance(value, list | tuple):
        include, exclude = _indexes(include, len(value)), _indexes(exclude, len(value))
        items = [
            _dump_value(item, options, _child(include, index), _child(exclude, index))
            for index, item in enumerate(value)
            if (include is None and exclude is None) or _keeps(include, exclude, index)
        ]
        return items if options.json or isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {
            key: _dump_value(item, options, _child(include, key), _child(exclude, key))
            for key, item in value.items()
            if (include is None and exclude is None) or _keeps(include, exclude, key)
        }
    if isinstance(value, msgspec.Struct):  # not one of ours: its wire form
        return msgspec.to_builtins(value) if options.json else value
    return value


# -- model_validate ------------------------------------------------------------------------------------------


def _members(tp: Any) -> tuple[Any, ...]:
    if get_origin(tp) in _UNION_ORIGINS or isinstance(tp, type(int | str)):
        return tuple(member for arg in get_args(tp) for member in _members(arg))
    return (tp,)


def _struct_for(data: Mapping[Any, Any], tp: Any) -> type[Any] | None:
    """The Struct class among the members of ``tp`` that the object ``data`` decodes to, if any."""
    structs = [
        member for member in _members(tp) if isinstance(member, type) and issubclass(member, PydanticCompat)
    ]
    if len(structs) == 1:
        return structs[0]
    for struct in structs:
        config = getattr(struct, "__struct_config__", None)
        if config is not None and isinstance(config.tag_field, str):
            tag = data.get(config.tag_field, data.get(_snake(config.tag_field)))
            if tag == config.tag:
                return struct
    return None


def _to_wire(value: Any, tp: Any) -> Any:
    """``value`` (a Python object for type ``tp``) with Python field names replaced by wire names, at any depth.

    Enum members become their values, so that the members of other classes (the official SDK's) are taken too.
    """
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        struct = _struct_for(value, tp)
        if struct is not None:
            plan = _plan(struct)
            out: dict[Any, Any] = {}
            for key, item in value.items():
                wire: Any = key if key in plan.hints else plan.wire_of.get(key, key)
                out[wire] = _to_wire(item, plan.hints.get(wire))
            return out
        for member in _members(tp):
            if get_origin(member) is dict and len(get_args(member)) == 2:
                item_type = get_args(member)[1]
                return {key: _to_wire(item, item_type) for key, item in value.items()}
        return value
    if isinstance(value, list | tuple):
        for member in _members(tp):
            if get_origin(member) in (list, tuple) and get_args(member):
                item_type = get_args(member)[0]
                return [_to_wire(item, item_type) for item in value]
        return value
    return value


# -- the mixin -----------------------------------------------------------------------------------------------


class PydanticCompat:
    """pydantic's ``BaseModel`` calls on a msgspec Struct (see the module docstring for the differences)."""

    __slots__ = ()

    #: Python names of fields that are alternatives (set one): left out of dumps when None.
    _alternatives: ClassVar[tuple[str, ...]] = ()

    #: Python field name -> :class:`FieldInfo`, in the official order (a class attribute, like pydantic's).
    model_fields: ClassVar[_ModelFields] = _ModelFields()

    def model_dump(
        self,
        *,
        mode: Literal["json", "python"] | str = "python",
        include: IncEx | None = None,
        exclude: IncEx | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        exclude_computed_fields: bool = False,
        round_trip: bool = False,
        warnings: bool | Literal["none", "warn", "error"] = True,
        fallback: Callable[[Any], Any] | None = None,
        serialize_as_any: bool = False,
        polymorphic_serialization: bool | None = None,
    ) -> dict[str, Any]:
        """The fields as a dict, as pydantic's ``model_dump`` (``exclude_unset`` is ignored: all are set)."""
        options = _Options(
            json=mode == "json",
            by_alias=bool(by_alias),
            exclude_none=exclude_none,
            exclude_defaults=exclude_defaults,
        )
        return _dump_struct(self, options, _spec(include), _spec(exclude))

    def model_dump_json(
        self,
        *,
        indent: int | None = None,
        ensure_ascii: bool = False,
        include: IncEx | None = None,
        exclude: IncEx | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        exclude_unset: bool = False,
        exclude_defaults: bool = False,
        exclude_none: bool = False,
        exclude_computed_fields: bool = False,
        round_trip: bool = False,
        warnings: bool | Literal["none", "warn", "error"] = True,
        fallback: Callable[[Any], Any] | None = None,
        serialize_as_any: bool = False,
        polymorphic_serialization: bool | None = None,
    ) -> str:
        """``model_dump(mode="json", ...)`` as JSON text: compact, or indented by ``indent`` spaces."""
        data = self.model_dump(
            mode="json",
            include=include,
            exclude=exclude,
            by_alias=by_alias,
            exclude_unset=exclude_unset,
            exclude_defaults=exclude_defaults,
            exclude_none=exclude_none,
        )
        return _json_text(data, indent, ensure_ascii)

    @classmethod
    def model_validate(
        cls,
        obj: Any,
        *,
        strict: bool | None = None,
        extra: Literal["allow", "ignore", "forbid"] | None = None,
        from_attributes: bool | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        """An instance from a dict (wire or Python names, at any depth) or an instance (returned as is)."""
        if isinstance(obj, cls):
            return obj
        if isinstance(obj, Mapping):
            obj = _to_wire(obj, cls)
        elif isinstance(obj, msgspec.Struct):
            obj = msgspec.to_builtins(obj)
        return msgspec.convert(obj, type=cls, strict=bool(strict), from_attributes=bool(from_attributes))

    @classmethod
    def model_validate_json(
        cls,
        json_data: str | bytes | bytearray,
        *,
        strict: bool | None = None,
        extra: Literal["allow", "ignore", "forbid"] | None = None,
        context: Any | None = None,
        by_alias: bool | None = None,
        by_name: bool | None = None,
    ) -> Self:
        """An instance from JSON text, like :meth:`model_validate` on the parsed JSON (Python names too)."""
        return cls.model_validate(msgspec.json.decode(json_data), strict=strict)

    @classmethod
    def model_construct(cls, _fields_set: set[str] | None = None, **values: Any) -> Self:
        """An instance from field values (Python or wire names), not validated (as pydantic's)."""
        plan = _plan(cls)
        attr_of = {wire: attr for attr, wire in plan.wire_of.items()}
        fields = {key if key in plan.wire_of else attr_of.get(key, key): value for key, value in values.items()}
        for slot in plan.slots:
            if slot.is_tag:  # not a field of the Struct: its class says it
                fields.pop(slot.attr, None)
        return cls(**fields)

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy (a deep one with ``deep=True``), with the fields in ``update`` (Python names) replaced."""
        new = copy.deepcopy(self) if deep else copy.copy(self)
        if update:
            new = msgspec.structs.replace(new, **update)  # type: ignore[type-var]
        return new


def _json_text(data: Any, indent: int | None, ensure_ascii: bool) -> str:
    if ensure_ascii:
        import json

        return json.dumps(data, ensure_ascii=True, indent=indent, separators=(",", ": ") if indent else (",", ":"))
    raw = msgspec.json.encode(data)
    if indent:
        raw = msgspec.json.format(raw, indent=indent)
    return raw.decode()


# -- enums ---------------------------------------------------------------------------------------------------


class OpenEnum(str, enum.Enum):  # noqa: UP042 - str() as the official's
    """A str Enum open like the official SDK's (``_missing_``): any other string becomes a pseudo-member.

    ``ReasoningEffort("custom")`` gives a member whose ``value`` and ``name`` are ``"custom"``, equal to the
    string like the others; msgspec decodes such values the same way, so a new value from the engine does not
    fail the message.
    """

    @classmethod
    def _accepts(cls, value: str) -> bool:
        return True

    @classmethod
    def _missing_(cls, value: object) -> Self | None:
        if not isinstance(value, str) or not cls._accepts(value):
            return None
        member = str.__new__(cls, value)
        member._name_ = value
        member._value_ = value
        return member


class NonEmptyOpenEnum(OpenEnum):
    """An :class:`OpenEnum` that refuses the empty string, like the official ``ReasoningEffort``."""

    @classmethod
    def _accepts(cls, value: str) -> bool:
        return bool(value)


class RootEnum(str, enum.Enum):  # noqa: UP042 - str() as the official's
    """A str Enum standing for an official pydantic ``RootModel`` over string values (``ReasoningSummary``).

    ``ReasoningSummary.model_validate("concise")`` returns the member ``ReasoningSummary.concise``: equal to
    ``"concise"``, with ``.value`` and ``.root`` (itself), where the official returns a ``RootModel`` whose
    ``root`` is ``ReasoningSummaryValue.concise`` (or the string ``"none"``). ``model_dump`` gives the member
    (``mode="python"``) or its value (``mode="json"``), as the official ``RootModel`` gives its root.
    """

    @property
    def root(self) -> Self:
        """The member itself, where the official ``RootModel`` has its value."""
        return self

    @classmethod
    def model_validate(cls, obj: Any, **_: Any) -> Self:
        """The member for ``obj``: a value, a member, or anything with a ``.root`` or ``.value`` holding one."""
        if isinstance(obj, cls):
            return obj
        for attr in ("root", "value"):  # the official RootModel, or an Enum member of another class
            if not isinstance(obj, str) and hasattr(obj, attr):
                return cls.model_validate(getattr(obj, attr))
        return cls(obj)

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **_: Any) -> Self:
        """The member for a JSON string."""
        return cls.model_validate(msgspec.json.decode(json_data))

    def model_dump(self, *, mode: Literal["json", "python"] | str = "python", **_: Any) -> Any:
        """The member (``mode="python"``) or its value (``mode="json"``)."""
        return self.value if mode == "json" else self

    def model_dump_json(self, *, indent: int | None = None, ensure_ascii: bool = False, **_: Any) -> str:
        """The value as JSON text."""
        return _json_text(self.value, indent, ensure_ascii)

"""One configuration story: every part has a typed config, ``config()`` gives it, ``from_config`` rebuilds.

Constructors stay as they are, keyword arguments in the timm style
(``PatchTokenizer(in_channels=3, dim=768, patch_size=16)``). A :class:`Configurable` class
derives its config model from its ``__init__`` signature and type hints (a strict pydantic
model: unknown keys rejected, ``Literal`` choices checked), records the arguments each
object was built with, and so answers the same two calls as every other part::

    config = tokenizer.config()                 # a typed, frozen Config: PatchTokenizerConfig(in_channels=3, ...)
    again = PatchTokenizer.from_config(config)  # the same class, config and parameter shapes
    PatchTokenizer.from_config({"in_channels": 1, "patch_size": 8})      # a mapping works too
    config.model_dump(mode="json")              # JSON for config.json (pydantic's own call)

A bad option raises :class:`~polymodal.errors.ConfigError` naming the field
(``tokenizer.patch.patch_size: expected an integer, got x``). Arguments whose type is a
:class:`Configurable` class nest that class's config (a model's ``patch_embed``); arguments
that are built modules with no config of their own (a tied embedding, a generator) are
*parts*: not in the config, passed to ``from_config(config, **parts)``.

Classes that already keep a config object (fusions' ``FusionConfig``, the encoder's
``EncoderConfig``) subclass :class:`Config` directly; a Config is callable and returns
itself, so ``fusion.config()`` answers like every other part while ``fusion.config.dim``
keeps working.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from polymodal.errors import ConfigError

__all__ = ["Config", "Configurable", "StrictModel", "config_error", "parse_section", "show_value", "to_json", "validate_config"]

M = TypeVar("M", bound=BaseModel)
C = TypeVar("C", bound="Configurable")


class StrictModel(BaseModel):
    """Base of every config section of a run: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class Config(BaseModel):
    """Base of every part's typed config: strict (unknown keys rejected), frozen, JSON-able.

    Calling a config returns it, so that a class holding its config as the attribute
    ``config`` answers ``obj.config()`` like a :class:`Configurable` does.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())
    #: Dotted prefix of the fields in error messages (``"encoder"``, ``"fusion.late"``).
    field_prefix: ClassVar[str] = ""

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:  # built in code: the same ConfigError as from a file
            raise config_error(exc, type(self).prefix(), type(self)) from None

    @classmethod
    def prefix(cls) -> str:
        """The dotted prefix of this config's fields in error messages."""
        return cls.field_prefix or cls.__name__

    def __call__(self) -> Config:
        return self

    def config(self) -> Config:
        """A config is its own config (a spec held by a model answers like every part)."""
        return self


# --- pydantic errors as ConfigError ------------------------------------------------------------

_EXPECTED = {
    "missing": "a value (the key is required)",
    "int_parsing": "an integer",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_parsing": "a number",
    "float_type": "a number",
    "bool_parsing": "true or false",
    "bool_type": "true or false",
    "string_type": "a string",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "tuple_type": "a list",
    "list_type": "a list",
}


def _expected(error: Mapping[str, Any]) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "greater_than":
        return "a positive number" if ctx.get("gt") == 0 else f"a number greater than {ctx.get('gt')}"
    if kind == "greater_than_equal":
        return "a non-negative number" if ctx.get("ge") == 0 else f"a number ≥ {ctx.get('ge')}"
    if kind in ("too_short", "too_long") and ctx.get("min_length") == ctx.get("max_length"):
        return f"{ctx.get('min_length')} values"
    if kind == "less_than":
        return f"a number below {ctx.get('lt')}"
    if kind == "less_than_equal":
        return f"a number ≤ {ctx.get('le')}"
    if kind == "finite_number":
        return "a finite number"
    if kind == "literal_error":
        return f"one of {ctx.get('expected')}"
    if kind in _EXPECTED:
        return _EXPECTED[kind]
    if kind == "value_error" and isinstance(ctx.get("error"), ConfigError):
        return ctx["error"].expected
    return error["msg"][0].lower() + error["msg"][1:]


def show_value(value: Any) -> str:
    if value is None:
        return "null"
    try:
        return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    except yaml.YAMLError:
        return repr(value)


def _field_names(model: type[BaseModel], loc: list[str]) -> list[str]:
    current: Any = model
    for part in loc:
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            return []
        current = field.annotation
    return sorted(getattr(current, "model_fields", {}))


def config_error(exc: ValidationError, prefix: str, model: type[BaseModel]) -> ConfigError:
    """The first validation error as a :class:`ConfigError` with a dotted path; the rest in the hint."""
    messages = []
    for error in exc.errors():
        loc = [str(p) for p in error["loc"] if not str(p).startswith("function-")]
        path = ".".join([prefix, *loc] if prefix else loc) or prefix or "config"
        got = error.get("input")
        if error["type"] == "missing":
            got = None
        elif error["type"] == "extra_forbidden":
            valid = _field_names(model, loc[:-1])
            messages.append((path, f"a known key (valid: {', '.join(valid)})", "an unknown key"))
            continue
        elif error["type"] == "value_error" and isinstance((error.get("ctx") or {}).get("error"), ConfigError):
            inner = error["ctx"]["error"]  # a validator's own ConfigError already names its field
            got = inner.got if inner.got is None or isinstance(inner.got, str) else show_value(inner.got)
            messages.append((inner.field, inner.expected, got))
            continue
        messages.append((path, _expected(error), show_value(got) if got is not None else None))
    path, expected, got = messages[0]
    hint = "also: " + "; ".join(f"{p}: expected {e}" for p, e, _ in messages[1:]) if len(messages) > 1 else None
    return ConfigError(path, expected, got, hint=hint)


def parse_section(model: type[M], data: Any, prefix: str = "") -> M:
    """Validate ``data`` into ``model``; errors become :class:`ConfigError` under ``prefix``."""
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise config_error(exc, prefix, model) from None


def validate_config(config_class: type[M], value: Any, field: str) -> M:
    """``value`` (a ``config_class`` instance, a mapping or ``None`` for the defaults) as a
    ``config_class``; a :class:`ConfigError` naming ``field`` otherwise."""
    if isinstance(value, config_class):
        return value
    if isinstance(value, BaseModel):
        raise ConfigError(field, f"a {config_class.__name__} or a mapping", type(value).__name__)
    if value is not None and not isinstance(value, Mapping):
        raise ConfigError(field, f"a {config_class.__name__} or a mapping", type(value).__name__)
    return parse_section(config_class, dict(value or {}), field)


def to_json(value: Any) -> Any:
    """``value`` with every config inside it dumped to JSON-able data (for config.json)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Mapping):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


# --- configs derived from constructors -------------------------------------------------------


def _members(hint: Any) -> tuple[Any, ...]:
    origin = typing.get_origin(hint)
    return typing.get_args(hint) if origin in (Union, types.UnionType) else (hint,)


def _configurable_in(hint: Any) -> type[Configurable] | None:
    """The :class:`Configurable` class of a hint (``PatchTokenizer`` or ``PatchTokenizer | None``)."""
    for member in _members(hint):
        if isinstance(member, type) and issubclass(member, Configurable):
            return member
    return None


def _is_part(hint: Any) -> bool:
    """Whether a hint names a built object with no config of its own (an ``nn.Module``, a
    tensor, a generator): such an argument is injected, not configured."""
    import torch

    for member in _members(hint):
        if isinstance(member, type) and issubclass(member, (torch.nn.Module, torch.Tensor, torch.Generator)):
            return _configurable_in(hint) is None
    return False


def _derive(cls: type[Configurable]) -> type[Config]:
    init = getattr(cls.__init__, "__wrapped__", cls.__init__)
    try:
        hints = typing.get_type_hints(init)
    except Exception as exc:  # a hint that does not resolve: the class must define its Config
        raise ConfigError(cls.__name__, "type hints that resolve (or an explicit config_class)", repr(exc)) from None
    defaults = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
    fields: dict[str, Any] = {}
    nested: dict[str, type[Configurable]] = {}
    parts: list[str] = []
    for i, param in enumerate(inspect.signature(init).parameters.values()):
        if i == 0 or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue  # self; *args/**kwargs cannot be described (define config_class then)
        hint = hints.get(param.name, Any)
        if param.name in cls.config_parts or _is_part(hint):
            parts.append(param.name)
            continue
        inner = _configurable_in(hint)
        if inner is not None:
            nested[param.name] = inner
            hint = Union[tuple(inner.config_class if m is inner else m for m in _members(hint))]  # noqa: UP007
        if param.default is not param.empty and param.default is not dataclasses.MISSING:
            default = param.default
            factory = getattr(defaults.get(param.name), "default_factory", dataclasses.MISSING)
            fields[param.name] = (hint, Field(default_factory=factory) if factory is not dataclasses.MISSING else default)
            if inner is not None and isinstance(default, Configurable):
                fields[param.name] = (hint, default.config())
        elif param.name in defaults and defaults[param.name].default_factory is not dataclasses.MISSING:
            fields[param.name] = (hint, Field(default_factory=defaults[param.name].default_factory))
        else:
            fields[param.name] = (hint, ...)
    model = create_model(f"{cls.__name__}Config", __base__=Config, __module__=cls.__module__, **fields)
    model.__doc__ = f"The typed config of :class:`{cls.__module__}.{cls.__qualname__}` (derived from its constructor)."
    model.field_prefix = cls._field()  # type: ignore[misc]
    model._nested = nested  # type: ignore[attr-defined]
    model._parts = tuple(parts)  # type: ignore[attr-defined]
    return model


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


class _DerivedConfigClass:
    """``cls.config_class``: the config model derived from ``cls.__init__``, built once per class."""

    def __get__(self, obj: Any, owner: type[Configurable]) -> type[Config]:
        derived = owner.__dict__.get("_derived_config")
        if derived is None:
            derived = _derive(owner)
            type.__setattr__(owner, "_derived_config", derived)
        return derived


class Configurable:
    """Mixin: a typed config derived from ``__init__``, ``config()`` and ``from_config``.

    Subclasses keep ordinary keyword-argument constructors with type hints. The arguments
    an object is built with are recorded (after defaults apply), so ``config()`` returns
    them as the class's :attr:`config_class`. A class may set ``config_class`` to an
    explicit :class:`Config` instead (and then override :meth:`config`/:meth:`from_config`).
    """

    config_class: ClassVar[type[Config]] = _DerivedConfigClass()  # type: ignore[assignment]
    #: Prefix of error fields (``"tokenizer.patch"``); the class name when empty.
    config_field: ClassVar[str] = ""
    #: Constructor arguments that are parts whatever their type (a vocabulary object).
    config_parts: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None or getattr(init, "_records_arguments", False):
            return
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self: Any, *args: Any, **kw: Any) -> None:
            init(self, *args, **kw)
            bound = signature.bind(self, *args, **kw)
            bound.apply_defaults()
            arguments = dict(list(bound.arguments.items())[1:])
            for name, param in signature.parameters.items():  # **options become keyword arguments
                if param.kind == param.VAR_KEYWORD:
                    arguments.update(arguments.pop(name, {}))
            # Set last by the outermost class's __init__ (it returns last); plain attribute
            # so that nn.Module's __setattr__ does not treat it.
            object.__setattr__(self, "_config_arguments", arguments)

        recording_init._records_arguments = True  # type: ignore[attr-defined]
        cls.__init__ = recording_init  # type: ignore[method-assign]

    @classmethod
    def _field(cls) -> str:
        return cls.config_field or cls.__name__

    def config(self) -> Config:
        """This object's typed config: what :meth:`from_config` rebuilds it from."""
        config_class = type(self).config_class
        arguments = getattr(self, "_config_arguments", None)
        if arguments is None and dataclasses.is_dataclass(self):
            arguments = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        if arguments is None and not config_class.model_fields:
            arguments = {}  # a class with no options of its own (no __init__ to record)
        if arguments is None:
            raise ConfigError(self._field(), "an object built by its constructor (arguments recorded)", "none recorded")
        values = {}
        for name in config_class.model_fields:
            value = arguments.get(name)
            # Lists for tuples, as config.json gives them back: equal configs in memory and loaded.
            values[name] = value.config() if isinstance(value, Configurable) else _plain(value)
        return validate_config(config_class, values, self._field())

    @classmethod
    def from_config(cls: type[C], config: Config | Mapping[str, Any] | None = None, /, **parts: Any) -> C:
        """A new object built from a config (or a mapping of its fields); ``parts`` are the
        built modules the constructor takes that are not in the config."""
        config_class = cls.config_class
        config = validate_config(config_class, config, cls._field())
        expected = set(getattr(config_class, "_parts", ()))
        if set(parts) - expected:
            unknown = sorted(set(parts) - expected)[0]
            raise ConfigError(f"{cls._field()}.{unknown}", f"a part among {sorted(expected) or 'none'}", "an unknown part")
        init = getattr(cls.__init__, "__wrapped__", cls.__init__)
        required = [n for n in expected - set(parts) if inspect.signature(init).parameters[n].default is inspect.Parameter.empty]
        if required:
            raise ConfigError(f"{cls._field()}.{sorted(required)[0]}", "a built part passed to from_config", "none")
        nested = getattr(config_class, "_nested", {})
        kwargs = {}
        for name in config_class.model_fields:
            value = getattr(config, name)
            if name in nested and isinstance(value, Config):
                value = nested[name].from_config(value)
            kwargs[name] = value
        return cls(**kwargs, **parts)

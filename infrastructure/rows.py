"""Single-row SQL for the submit hot path, built once per model from the ORM's own metadata.

An officer's submit writes two rows and reads one session and one user. Through
the QuerySet API each of those statements is rebuilt and recompiled on every
request, each costing more than scoring the application and most of the time
SQLite's write lock was held (docs/performance.md). The statements
themselves never change shape, so they are built once per (model, database)
from ``_meta`` and run with the values Django's fields prepare
(``Field.pre_save`` + ``get_db_prep_save`` on the way in, the compiler's own
converters on the way out): the same values in the same columns as
``Model.save()`` and ``QuerySet.get()``, which ``tests/infrastructure/test_rows.py`` checks
on both databases.

They send no ``pre_save``/``post_save`` signals; this project uses none for
these models, by design (side effects go through services).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import cache
from typing import Any, NamedTuple

from django.db import connections, models
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init

_BASE_ADAPT_INTEGER = BaseDatabaseOperations.adapt_integerfield_value


@cache
def _insert_statement(model: type[models.Model], alias: str) -> tuple[str, tuple[models.Field, ...], bool]:
    connection = connections[alias]
    quote = connection.ops.quote_name
    opts = model._meta
    fields = tuple(field for field in opts.concrete_fields if not field.primary_key)
    returning = connection.features.can_return_columns_from_insert
    sql = (
        f"INSERT INTO {quote(opts.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))})"
    )
    if returning:
        sql += f" RETURNING {quote(opts.pk.column)}"
    return sql, fields, returning


class PreparedInsert(NamedTuple):
    """An INSERT with its values bound: built before a transaction, run inside it."""

    sql: str
    values: list[Any]
    returning: bool
    using: str


class _FieldFill(NamedTuple):
    """How ``Model.__init__`` fills one concrete field when it is not given (``new_instance``)."""

    name: str
    attname: str
    related: bool  # a foreign key: an object given goes through its descriptor (sets the id, caches the object)
    default_per_row: models.Field | None  # a field with a default: ``get_default()`` per row (callables, lists)
    constant: Any  # otherwise what ``get_default()`` always gives (``None`` or ``""``)


@cache
def _construction(model: type[models.Model]) -> tuple[_FieldFill, ...] | None:
    """The plan for ``new_instance``; ``None`` where ``Model.__init__`` would do more than it mirrors."""
    if model.__init__ is not models.Model.__init__ or model._meta.abstract:
        return None
    plan = []
    for field in model._meta.fields:
        if field.column is None or field.generated:
            continue
        related = isinstance(field.remote_field, models.ForeignObjectRel)
        descriptor = type(model.__dict__.get(field.attname))
        if descriptor is not (ForeignKeyDeferredAttribute if related else DeferredAttribute):
            return None  # a field with its own descriptor (files and the like) sets more than the attribute
        if related and type(field) is not models.ForeignKey:
            return None
        if field.has_default() or field.has_db_default():
            plan.append(_FieldFill(field.name, field.attname, related, field, None))
        else:
            plan.append(_FieldFill(field.name, field.attname, related, None, field.get_default()))
    return tuple(plan)


def new_instance(model: type[models.Model], values: dict[str, Any]) -> models.Model:
    """``model(**values)`` for a new row, without its per-field generic work (a batch builds thousands).

    ``values`` by field name (a related object under the foreign key's
    name, or its id under the attname). The same attributes with the same
    values, in the same order, as ``Model.__init__`` sets
    (``tests/infrastructure/test_rows.py``); ``model(**values)`` itself
    where init signals have receivers, the model has its own ``__init__``
    or a field its own descriptor, or ``values`` names anything but
    concrete fields.
    """
    plan = _construction(model)
    if plan is None or pre_init.has_listeners(model) or post_init.has_listeners(model):
        return model(**values)
    instance = model.__new__(model)
    attributes = instance.__dict__
    attributes["_state"] = ModelState()
    used = 0
    for name, attname, related, default_per_row, constant in plan:
        if name in values:
            used += 1
            if related:
                setattr(instance, name, values[name])
            else:
                attributes[attname] = values[name]
        elif related and attname in values:
            used += 1
            setattr(instance, attname, values[attname])
        elif default_per_row is not None:
            attributes[attname] = default_per_row.get_default()
        else:
            attributes[attname] = constant
    if used != len(values):
        return model(**values)  # a property or an unknown name: Django's own handling (and errors)
    return instance


def _require_new(instance: models.Model) -> None:
    if not instance._state.adding or instance.pk is not None:
        raise ValueError(f"insert_row takes a new {type(instance).__name__} without a primary key")


# Field classes whose ``get_db_prep_save`` hands back a value of these exact
# types unchanged, on every backend we run (the conversion is ``str(value)``,
# ``int(value)``, ``float(value)`` or ``bool(value)``, an identity for them);
# ``None`` stays ``None`` for them too. Only these exact classes (a subclass
# may convert), and never JSONField (its None is JSON null). Any other value
# goes through Django's ``get_db_prep_save``; ``tests/infrastructure/test_rows.py``
# checks the result equals it, value and type, for every field on both databases.
_UNCHANGED_TYPES: dict[type[models.Field], frozenset[type]] = {
    models.CharField: frozenset({str}),
    models.TextField: frozenset({str}),
    models.IntegerField: frozenset({int}),
    models.SmallIntegerField: frozenset({int}),
    models.BigIntegerField: frozenset({int}),
    models.PositiveIntegerField: frozenset({int}),
    models.PositiveSmallIntegerField: frozenset({int}),
    models.PositiveBigIntegerField: frozenset({int}),
    models.FloatField: frozenset({float}),
    models.BooleanField: frozenset({bool}),
    models.DateTimeField: frozenset(),
    models.DecimalField: frozenset(),
}


def _unchanged_types(field: models.Field, connection: Any) -> frozenset[type]:
    if isinstance(field, models.ForeignKey):
        target = field.target_field
        unchanged = frozenset({int}) if type(target) in (models.AutoField, models.BigAutoField) else frozenset()
    else:
        unchanged = _UNCHANGED_TYPES.get(type(field))
        if unchanged is None:
            return frozenset()
    if int in unchanged and type(connection.ops).adapt_integerfield_value is not _BASE_ADAPT_INTEGER:
        # PostgreSQL (psycopg 3) wraps integers by their column's size (Int2, Int4, Int8).
        unchanged -= {int}
    return unchanged | {type(None)} if field.null else unchanged


def _finite_decimal_unchanged(field: models.Field, connection: Any) -> bool:
    """A finite ``Decimal`` binds as an equal ``Decimal`` (``to_python`` copies it; the backend passes it on)."""
    return (
        type(field) is models.DecimalField
        and type(connection.ops).adapt_decimalfield_value is BaseDatabaseOperations.adapt_decimalfield_value
    )


def _plain_pre_save(field: models.Field) -> bool:
    """``field.pre_save(instance, True)`` is just the attribute (no auto_now and the like)."""
    if type(field).pre_save is models.Field.pre_save:
        return True
    if type(field) in (models.DateTimeField, models.DateField):
        return not (field.auto_now or field.auto_now_add)
    return isinstance(field, models.ForeignKey) and type(field).pre_save is models.ForeignKey.pre_save


@cache
def _binding(model: type[models.Model], alias: str) -> tuple[tuple[models.Field, str, bool, frozenset[type]], ...]:
    _, fields, _ = _insert_statement(model, alias)
    connection = connections[alias]
    return tuple(
        (field, field.attname, _plain_pre_save(field), _unchanged_types(field, connection)) for field in fields
    )


@cache
def _decimal_fields(model: type[models.Model], alias: str) -> frozenset[models.Field]:
    connection = connections[alias]
    _, fields, _ = _insert_statement(model, alias)
    return frozenset(field for field in fields if _finite_decimal_unchanged(field, connection))


def prepare_insert(instance: models.Model, *, using: str = "default") -> PreparedInsert:
    """Bind ``instance``'s current values (``pre_save`` + ``get_db_prep_save``, as ``Model.save``).

    Later changes to ``instance`` are not in the prepared statement: prepare
    once every field is set. Values Django would hand on unchanged (see
    ``_UNCHANGED_TYPES``) are taken as they are, without the call.
    """
    _require_new(instance)
    connection = connections[using]
    sql, _, returning = _insert_statement(type(instance), using)
    attributes = instance.__dict__
    values = []
    append = values.append
    for field, attname, plain, unchanged in _binding(type(instance), using):
        if plain:
            value = attributes[attname] if attname in attributes else getattr(instance, attname)
        else:
            value = field.pre_save(instance, True)
        append(value if value.__class__ in unchanged else _bound(field, value, connection, using))
    return PreparedInsert(sql, values, returning, using)


# The last time bound per (field, database): rows prepared together often share one
# (a batch's chunk is stamped once), and a datetime is immutable, so the same
# object binds to the same value.
_LAST_TIME: dict[tuple[models.Field, str], tuple[dt.datetime, Any]] = {}


def _bound(field: models.Field, value: Any, connection: Any, using: str) -> Any:
    if value.__class__ is Decimal and value.is_finite() and field in _decimal_fields(field.model, using):
        return value
    if value.__class__ is not dt.datetime:
        return field.get_db_prep_save(value, connection)
    key = (field, using)
    last = _LAST_TIME.get(key)
    if last is not None and last[0] is value:
        return last[1]
    bound = field.get_db_prep_save(value, connection)
    _LAST_TIME[key] = (value, bound)
    return bound


def insert_values(model: type[models.Model], rows: list[dict[str, Any]], *, using: str = "default") -> None:
    """INSERT rows given as ``{attname: value}`` in multi-row statements, without building instances.

    For rows nobody reads back in this process (a batch's row outcomes):
    each value is bound as ``prepare_insert`` binds it, a missing one gets
    the field's default; primary keys are not fetched.
    """
    if not rows:
        return
    connection = connections[using]
    _, fields, _ = _insert_statement(model, using)
    binding = _binding(model, using)
    quote = connection.ops.quote_name
    head = f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) VALUES "
    row_sql = f"({', '.join(['%s'] * len(fields))})"
    bound = []
    for row in rows:
        for field, attname, _, unchanged in binding:
            value = row[attname] if attname in row else field.get_default()
            bound.append(value if value.__class__ in unchanged else _bound(field, value, connection, using))
    width = len(fields)
    if connection.vendor == "postgresql":
        # One COPY: psycopg writes the rows in C, where a multi-row INSERT has every value quoted into the
        # statement's text in Python (much of a PostgreSQL chunk's CPU, docs/performance.md). Errors
        # (a unique key refused) arrive as Django's, as from execute.
        columns = ", ".join(quote(field.column) for field in fields)
        statement = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
        with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
            write = copy.write_row
            for start in range(0, len(bound), width):
                write(bound[start : start + width])
        return
    size = max(1, connection.ops.bulk_batch_size(fields, rows))
    with connection.cursor() as cursor:
        for start in range(0, len(rows), size):
            count = min(size, len(rows) - start)
            cursor.execute(head + ", ".join([row_sql] * count), bound[start * width : (start + count) * width])


def insert_row(instance: models.Model, *, using: str = "default", prepared: PreparedInsert | None = None) -> None:
    """INSERT a new, unsaved ``instance`` (auto primary key) and set its ``pk``, like ``save(force_insert=True)``.

    ``prepared`` (from ``prepare_insert``) moves the binding out of the
    transaction, where a write lock may be held.
    """
    if prepared is None:
        prepared = prepare_insert(instance, using=using)
    else:
        _require_new(instance)
    connection = connections[prepared.using]
    with connection.cursor() as cursor:
        cursor.execute(prepared.sql, prepared.values)
        if prepared.returning:
            pk = cursor.fetchone()[0]
        else:
            pk = connection.ops.last_insert_id(cursor, instance._meta.db_table, instance._meta.pk.column)
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = prepared.using


def insert_rows(
    instances: list[models.Model], *, prepared: list[PreparedInsert], match: str, using: str = "default"
) -> None:
    """INSERT many new instances (values bound by ``prepare_insert``) in multi-row statements; set each ``pk``.

    One statement per ``bulk_batch_size`` rows instead of one per row: a
    batch file's chunk holds the write lock for far less time. The primary
    keys come back with ``RETURNING`` together with ``match``, a unique
    column whose values the instances already have: each key is paired by
    that value, never by the order the database returns rows in, and a row
    missing from the answer raises instead of leaving a wrong link.
    Databases without ``RETURNING`` get one statement per row.
    """
    if not instances:
        return
    connection = connections[using]
    model = type(instances[0])
    sql, fields, returning = _insert_statement(model, using)
    if not returning:
        for instance, item in zip(instances, prepared, strict=True):
            insert_row(instance, using=using, prepared=item)
        return
    for instance in instances:
        _require_new(instance)
    quote = connection.ops.quote_name
    opts = model._meta
    match_field = opts.get_field(match)
    head = f"INSERT INTO {quote(opts.db_table)} ({', '.join(quote(field.column) for field in fields)}) VALUES "
    tail = f" RETURNING {quote(opts.pk.column)}, {quote(match_field.column)}"
    row_sql = f"({', '.join(['%s'] * len(fields))})"
    by_match = {}
    for instance in instances:
        key = match_field.get_db_prep_value(getattr(instance, match_field.attname), connection)
        if key is None or key in by_match:
            raise ValueError(f"insert_rows needs a unique, non-null {match!r} on every row")
        by_match[key] = instance
    size = max(1, connection.ops.bulk_batch_size(fields, instances))
    with connection.cursor() as cursor:
        for start in range(0, len(instances), size):
            batch = prepared[start : start + size]
            values = [value for item in batch for value in item.values]
            cursor.execute(head + ", ".join([row_sql] * len(batch)) + tail, values)
            returned = cursor.fetchall()
            if len(returned) != len(batch):
                raise RuntimeError(f"insert_rows: {len(batch)} rows sent, {len(returned)} returned")
            for pk, key in returned:
                instance = by_match[key]
                instance.pk = pk
                instance._state.adding = False
                instance._state.db = using
    if any(instance.pk is None for instance in instances):
        raise RuntimeError("insert_rows: a row's primary key did not come back")


class RowLookup:
    """``model.objects.get(<key>=value)``-alike, compiled once per database.

    The SELECT and its result converters come from the ORM compiler of a
    template query (so types come back exactly as the QuerySet API returns
    them); each call only binds the value and builds the instance with
    ``Model.from_db``. Returns ``None`` where ``get`` would raise
    ``DoesNotExist``; ``extra`` conditions (e.g. ``expire_date__gt``) take
    their values per call through ``params``.
    """

    def __init__(self, model: type[models.Model], key: str, *, extra: tuple[str, ...] = ()) -> None:
        self.model, self.key, self.extra = model, key, extra
        self._fields = tuple(self._field(lookup) for lookup in (key, *extra))
        self._compiled: dict[str, tuple[Any, str, list[str], Any]] = {}

    def _field(self, lookup: str) -> models.Field:
        name = lookup.split("__")[0]
        return self.model._meta.pk if name == "pk" else self.model._meta.get_field(name)

    def _compile(self, alias: str) -> tuple[Any, str, list[str], Any]:
        # One filter() per condition, so the parameters come in the order given
        # (a single filter(**kwargs) sorts them by name). Placeholder values of
        # the right type; the real ones are bound per call.
        queryset = self.model._default_manager.using(alias)
        for lookup, field in zip((self.key, *self.extra), self._fields):
            queryset = queryset.filter(**{lookup: _placeholder(field)})
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        if len(params) != 1 + len(self.extra):
            raise ValueError(f"unexpected parameters for {self.model.__name__} lookup: {params!r}")
        columns = [column for column, _, _ in compiler.select]
        attnames = [column.target.attname for column in columns]
        # Converters as compiler.results_iter() would find them, but once, not per row.
        if len(columns) != compiler.col_count or compiler.has_composite_fields(columns):
            raise ValueError(f"{self.model.__name__}: only plain columns are supported here")
        converters = compiler.get_converters(columns)
        self._compiled[alias] = (compiler, sql, attnames, converters)
        return self._compiled[alias]

    def get(self, value: Any, *params: Any, using: str = "default") -> models.Model | None:
        compiled = self._compiled.get(using) or self._compile(using)
        compiler, sql, attnames, converters = compiled
        connection = connections[using]
        if len(params) != len(self.extra):
            raise TypeError(f"expected values for {self.extra!r}, got {len(params)}")
        bound = [
            field.get_db_prep_value(given, connection, prepared=False)
            for field, given in zip(self._fields, (value, *params))
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, bound)
            rows = cursor.fetchmany(2)
        if not rows:
            return None
        if len(rows) > 1:
            raise self.model.MultipleObjectsReturned(f"more than one {self.model.__name__} for {self.key}={value!r}")
        row = rows[0]
        if converters:
            row = next(compiler.apply_converters(rows, converters))
        return self.model.from_db(using, attnames, row)


@cache
def row_lookup(model: type[models.Model], key: str, extra: tuple[str, ...] = ()) -> RowLookup:
    """The shared ``RowLookup`` for (model, key, extra): compiled once per process and database."""
    return RowLookup(model, key, extra=extra)


def _placeholder(field: models.Field) -> Any:
    if isinstance(field, models.DateTimeField):
        return dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    if isinstance(field, (models.IntegerField, models.AutoField, models.ForeignKey)):
        return 0
    return "placeholder"

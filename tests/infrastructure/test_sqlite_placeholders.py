"""infrastructure.sqlite_backend: Django's ``%s`` placeholders become SQLite's ``?`` once per statement text."""

from __future__ import annotations

import sqlite3

import pytest
from django.db import connection
from django.db.backends.sqlite3.base import SQLiteCursorWrapper

from infrastructure.sqlite_backend import base as sqlite_backend

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite backend only")

STATEMENTS = [
    "SELECT 1",
    "SELECT %s",
    "SELECT %s, %s WHERE 'a%%' LIKE %s",
    "INSERT INTO t (a, b) VALUES (%s, %s)",
    "SELECT '%%s' || %s",
    "UPDATE t SET a = %s WHERE b LIKE '%%x%%' AND c = %s",
]


@pytest.mark.parametrize("statement", STATEMENTS)
def test_the_conversion_is_djangos(statement):
    # Django's own conversion on a plain cursor: the reference the cache must reproduce.
    raw = sqlite3.connect(":memory:")
    expected = SQLiteCursorWrapper.convert_query(raw.cursor(factory=SQLiteCursorWrapper), statement)
    cursor = raw.cursor(factory=sqlite_backend.QmarkCursorWrapper)
    assert cursor.convert_query(statement) == expected
    assert cursor.convert_query(statement) == expected  # and again, from the cache
    raw.close()


@pytest.mark.django_db
def test_the_backend_executes_through_the_caching_cursor():
    with connection.cursor() as cursor:
        assert isinstance(cursor.cursor, sqlite_backend.QmarkCursorWrapper)


@pytest.mark.django_db
def test_literal_percent_signs_and_named_parameters_still_work():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'a%%b', %s", ["x"])
        assert cursor.fetchone() == ("a%b", "x")
        cursor.execute("SELECT %(first)s || %(second)s", {"first": "a", "second": "b"})
        assert cursor.fetchone() == ("ab",)


def test_the_cache_is_bounded():
    assert sqlite_backend._format_to_qmark.cache_info().maxsize == 1024

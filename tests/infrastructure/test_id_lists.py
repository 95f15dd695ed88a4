"""``infrastructure.id_lists.ids_condition``: exactly the rows whose id is listed, on either database."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from infrastructure.id_lists import ids_condition
from tests.support.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_condition_selects_exactly_the_listed_ids():
    users = [UserFactory() for _ in range(5)]
    table = connection.ops.quote_name(get_user_model()._meta.db_table)
    wanted = [users[3].pk, users[0].pk, users[3].pk, 10**12]  # unordered, repeated, and one that is no row
    condition, params = ids_condition(connection, "id", wanted)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table} WHERE {condition} ORDER BY id", params)
        assert [row[0] for row in cursor.fetchall()] == sorted([users[0].pk, users[3].pk])
    if connection.vendor == "postgresql":
        assert len(params) == 1  # one array parameter, not one placeholder per id
    else:
        assert params == wanted

"""Rows to dataclasses and back, written once: a :class:`Table` knows a dataclass's columns
and key, and makes the SELECT, INSERT and UPDATE statements a repository runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from decimal import Decimal
from typing import Any, Generic, TypeAlias, TypeVar

import asyncpg
import orjson

from shared.db import check_schema_name

T = TypeVar("T")
# What a repository reads and writes through: the unit of work's connection, or for reads
# outside a transaction the pool.
Db: TypeAlias = asyncpg.Connection | asyncpg.Pool


class Table(Generic[T]):
    """A table whose rows are instances of the dataclass ``kind``; ``skip`` names fields that
    are not columns (an aggregate's pending notifications, say)."""

    def __init__(self, name: str, kind: type[T], key: str, *, skip: Sequence[str] = ()) -> None:
        check_schema_name(name)
        self.name, self.kind, self.key = name, kind, key
        self.columns: tuple[str, ...] = tuple(
            f.name for f in fields(kind) if f.name not in skip)  # type: ignore[arg-type]
        if key not in self.columns:
            raise ValueError(f"{key} is not a column of {kind.__name__}")
        self._listed = ", ".join(self.columns)
        self._changing = [c for c in self.columns if c != key]

    def select(self, where: str = "", *, lock: bool = False, tail: str = "") -> str:
        """``SELECT <columns> FROM <table> [WHERE ...] [tail] [FOR UPDATE]``."""
        sql = f"SELECT {self._listed} FROM {self.name}"
        if where:
            sql += f" WHERE {where}"
        if tail:
            sql += f" {tail}"
        return sql + (" FOR UPDATE" if lock else "")

    def by_key(self, *, lock: bool = False) -> str:
        return self.select(f"{self.key} = $1", lock=lock)

    def from_row(self, row: Mapping[str, Any]) -> T:
        return self.kind(**{c: row[c] for c in self.columns})

    async def get(self, db: Db, key: Any, *, lock: bool = False) -> T | None:
        """The row with this key, as a ``kind``; ``lock`` holds it until the transaction ends."""
        row = await db.fetchrow(self.by_key(lock=lock), key)
        return self.from_row(row) if row else None

    def insert(self, *, on_conflict: str = "DO NOTHING", first: int = 1) -> str:
        """INSERT of every column, from parameter ``$first`` on; ``on_conflict`` '' for
        none."""
        params = ", ".join(f"${i}" for i in range(first, first + len(self.columns)))
        sql = f"INSERT INTO {self.name} ({self._listed}) VALUES ({params})"
        return sql + (f" ON CONFLICT ({self.key}) {on_conflict}" if on_conflict else "")

    def insert_values(self, item: T) -> list[Any]:
        return [getattr(item, c) for c in self.columns]

    def insert_many(self, *, on_conflict: str = "DO NOTHING") -> str:
        """INSERT of many rows from one JSON array (``$1``, text, :meth:`json_rows`) read as
        the table's row type, in key order: one statement text whatever the number of rows,
        and writers of the same new keys take them in one order."""
        return (f"INSERT INTO {self.name} ({self._listed}) SELECT {self._listed} "
                f"FROM json_populate_recordset(NULL::{self.name}, $1::text::json) "
                f"ORDER BY {self.key} ON CONFLICT ({self.key}) {on_conflict}")

    def update(self) -> str:
        """UPDATE of every column but the key, by key (``$1``)."""
        sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(self._changing, start=2))
        return f"UPDATE {self.name} SET {sets} WHERE {self.key} = $1"

    def update_many(self) -> str:
        """UPDATE of every column but the key of many rows, by key, from one JSON array
        (``$1``, text) read as the table's row type: PostgreSQL converts each value to its
        column's type, so one statement text serves any number of rows."""
        sets = ", ".join(f"{c} = v.{c}" for c in self._changing)
        return (f"UPDATE {self.name} AS t SET {sets} FROM json_populate_recordset("
                f"NULL::{self.name}, $1::text::json) AS v WHERE t.{self.key} = v.{self.key}")

    def json_rows(self, items: Sequence[T]) -> str:
        """The rows of ``items`` as the JSON array ``insert_many`` and ``update_many`` read."""
        return orjson.dumps([{c: getattr(i, c) for c in self.columns} for i in items],
                            default=_exact_text).decode()

    def update_values(self, item: T) -> list[Any]:
        return [getattr(item, self.key), *(getattr(item, c) for c in self._changing)]


def _exact_text(value: Any) -> str:
    """What orjson leaves to us: a Decimal, as its exact digits (numeric reads them back)."""
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not written as JSON")


def inserted(status: str) -> bool:
    """Whether an ``INSERT ... ON CONFLICT DO NOTHING`` wrote its row (``INSERT 0 1``)."""
    return status.endswith(" 1")

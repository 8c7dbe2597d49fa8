"""Two fixes that make moto's server a faithful, usable local DynamoDB.

moto 5.2 has two problems that the local stack would otherwise inherit:

1. It is not safe under concurrent requests. A DynamoDB transaction in moto
   backs up every table it names, applies its items one by one, and on
   failure swaps the backed-up tables back in: a write another thread made
   meanwhile is silently lost. The server therefore handles one request at a
   time (:func:`serialised`). DynamoDB's own isolation is per item and
   stronger than that; one at a time is the simplest model that is at least
   as strict.
2. The backup is a deep copy of each whole table, so every ballot costs time
   proportional to the ballots already cast (about 0.2 s per table at 6,000
   items): a full replay of a real election would take half an hour.
   :func:`install` replaces that backup with a copy of only the items the
   transaction names, restored the same way on failure.

Both apply only to a process that runs the moto server (the demo, ``make
up`` and the benchmarks), never to AWS. Known limit: this leans on moto's
internal table layout (``Table.items``, ``hash_key_attr``); the tests in
``tests/functional/test_motoshim.py`` fail if a moto upgrade changes it.
"""

from __future__ import annotations

import copy
import threading
import types
from typing import Any

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

_installed = False
_original_transact = DynamoDBBackend.transact_write_items


def install() -> None:
    """Make moto's transactions back up only the items they touch. Idempotent."""
    global _installed
    if _installed:
        return
    # moto's own whole-table backup becomes a no-op: tables "copy" to themselves.
    dynamodb_models.copy = types.SimpleNamespace(deepcopy=_copy_unless_table)
    DynamoDBBackend.transact_write_items = _transact_write_items
    _installed = True


def serialised(app):
    """Wrap a WSGI app so that it serves one request at a time."""
    lock = threading.Lock()

    def serve(environ, start_response):
        with lock:
            # Read the whole body inside the lock so the answer is complete.
            return list(app(environ, start_response))

    return serve


def _copy_unless_table(value: Any, memo=None) -> Any:
    if isinstance(value, Table):
        return value
    return copy.deepcopy(value, memo)


def _transact_write_items(self, transact_items: list[dict[str, Any]]) -> None:
    backup = [_backup_item(self, item) for item in transact_items]
    try:
        return _original_transact(self, transact_items)
    except Exception:
        for table, hash_key, range_key, saved in reversed([b for b in backup if b]):
            _restore_item(table, hash_key, range_key, saved)
        raise


def _backup_item(backend, transact_item: dict[str, Any]):
    if len(transact_item) != 1:
        return None  # moto rejects it before writing anything
    ((op_type, op),) = transact_item.items()
    table = backend.tables.get(op.get("TableName"))
    if table is None:
        return None
    key = op.get("Item") if op_type == "Put" else op.get("Key")
    if not key or table.hash_key_attr not in key:
        return None
    hash_key = DynamoType(key[table.hash_key_attr])
    range_key = None
    if table.has_range_key:
        if table.range_key_attr not in key:
            return None
        range_key = DynamoType(key[table.range_key_attr])
    return (
        table,
        hash_key,
        range_key,
        copy.deepcopy(table.get_item(hash_key, range_key)),
    )


def _restore_item(table, hash_key, range_key, saved) -> None:
    if range_key is None:
        if saved is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = saved
        return
    if saved is None:
        if hash_key in table.items:
            table.items[hash_key].pop(range_key, None)
            if not table.items[hash_key]:
                del table.items[hash_key]
    else:
        table.items[hash_key][range_key] = saved

"""Per-substation locks: two cycles (or a cycle and a manual setpoint) of one
substation never overlap.

PostgreSQL: a transaction-scoped advisory lock on (namespace, substation id),
released at commit or rollback. SQLite: every write transaction is BEGIN
IMMEDIATE (settings), which already holds the database's single write lock, so
writers are serialised and the lock is always granted.
"""

from __future__ import annotations

from django.db import connection

# Advisory lock namespace of substation locks (any constant unique to dermgmt).
SUBSTATION_NAMESPACE = 1547


def substation_lock_try(*, substation_id: int) -> bool:
    """Take the substation's lock for the current transaction; False if held."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(%s, %s)",
            [SUBSTATION_NAMESPACE, substation_id],
        )
        return bool(cursor.fetchone()[0])


def substation_lock_wait(*, substation_id: int) -> None:
    """Wait for the substation's lock and hold it for the current transaction."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, %s)",
            [SUBSTATION_NAMESPACE, substation_id],
        )

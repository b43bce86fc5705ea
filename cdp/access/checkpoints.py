"""Signed checkpoints of the audit log's head, kept in the key store database (not the data database).

After every commit that appended audit entries (at most every `audit_checkpoint_seconds`), the process reads
the head, verifies the entries written since the newest checkpoint (so a checkpoint only ever extends a chain
that was intact) and stores a new checkpoint signed with HMAC-SHA256 under a key from the key store (wrapped by
the master key: an owner of either database cannot forge one). `verify_log` checks the whole chain against the
newest checkpoint, so a log cut short — even emptied — fails verification with no hand-kept anchor.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import delete, event, insert, select
from sqlmodel import Session

import audit
from audit import Checkpoint, VerifyResult
from audit.canonical import iso_utc
from cdp.crypto.keystore import audit_checkpoint
from cdp.store import Store

CHECKPOINT_KEY = "audit-checkpoint"
KEEP = 1_000  # checkpoints kept at least; verification needs only the newest
TRIM_EVERY = 100  # older ones are deleted every this many checkpoints, not on each
_log = logging.getLogger(__name__)
# Per key store (by id): one writer at a time, the commits waiting for a checkpoint, and the last write's time.
_locks: defaultdict[int, threading.Lock] = defaultdict(threading.Lock)
_waiting: set[int] = set()
_last_written: dict[int, float] = {}


class CheckpointError(RuntimeError):
    """The newest checkpoint is not authentic, or the log no longer extends it."""


def newest(store: Store) -> Checkpoint | None:
    """The newest checkpoint; CheckpointError when its signature does not hold (the key store was altered)."""
    with store.keystore.engine.connect() as conn:
        row = conn.execute(select(audit_checkpoint).order_by(audit_checkpoint.c.id.desc()).limit(1)).first()
    if row is None:
        return None
    checkpoint = Checkpoint(row.seq, row.head_hash, datetime.fromisoformat(row.at))
    if not audit.is_authentic(store.keystore.system_secret(CHECKPOINT_KEY), checkpoint, row.mac):
        raise CheckpointError(f"checkpoint {row.id} (seq {row.seq}): signature invalid, the key store was altered")
    return checkpoint


def write(store: Store) -> Checkpoint:
    """Checkpoint the current head, after verifying the entries since the newest checkpoint."""
    with _locks[id(store.keystore)]:
        return _write(store)


def _write(store: Store) -> Checkpoint:
    previous = newest(store)
    with store.session() as session:
        result = audit.verify_since(session, previous.anchor if previous else None)
    if not result.ok:
        raise CheckpointError(f"audit log does not extend the newest checkpoint: {result.reason}")
    now = datetime.now(UTC)
    # The head is where the verifying walk ended, so a checkpoint never covers an entry it did not check.
    checkpoint = Checkpoint(*result.head, now) if result.head else audit.empty_checkpoint(now)
    if previous is not None and previous.anchor == checkpoint.anchor:
        return previous
    mac = audit.sign(store.keystore.system_secret(CHECKPOINT_KEY), checkpoint)
    with store.keystore.engine.begin() as conn:
        written = conn.execute(
            insert(audit_checkpoint)
            .values(seq=checkpoint.seq, head_hash=checkpoint.head_hash, at=iso_utc(now), mac=mac)
            .returning(audit_checkpoint.c.id)
        ).scalar_one()
        if written % TRIM_EVERY == 0:
            conn.execute(delete(audit_checkpoint).where(audit_checkpoint.c.id <= written - KEEP))
    _last_written[id(store.keystore)] = time.monotonic()
    return checkpoint


def verify_log(store: Store) -> tuple[VerifyResult, Checkpoint | None]:
    """Verify the whole chain against the newest checkpoint; when intact, checkpoint the head.

    Returns the result and the checkpoint it was compared with (None: there was none yet)."""
    try:
        anchor = newest(store)
    except CheckpointError as exc:
        return VerifyResult(False, 0, None, str(exc)), None
    with store.session() as session:
        result = audit.verify(session, anchor=anchor.anchor if anchor else None)
    if result.ok:
        write(store)
    return result, anchor


def checkpoint_after_commit(session: Session) -> None:
    """Called by whoever appends an audit entry: checkpoint once the session's transaction commits."""
    if session.info.get("cdp_store") is None or session.info.get("cdp_checkpoint_pending"):
        return
    session.info["cdp_checkpoint_pending"] = True
    event.listen(session, "after_commit", _after_commit, once=True)


def _after_commit(session: Session) -> None:
    session.info.pop("cdp_checkpoint_pending", None)
    store: Store = session.info["cdp_store"]
    key = id(store.keystore)
    last = _last_written.get(key)
    if last is not None and time.monotonic() - last < store.settings.audit_checkpoint_seconds:
        return
    # A commit never waits for another's checkpoint: when one is being written, the writer writes once more
    # after it (it reads the head again, which includes this commit).
    _waiting.add(key)
    while key in _waiting:
        lock = _locks[key]
        if not lock.acquire(blocking=False):
            return  # the holder looks at _waiting again after releasing
        try:
            _waiting.discard(key)
            _write(store)
        except Exception:  # the operation has committed; a failed checkpoint is reported, not raised into it
            _log.exception("audit checkpoint not written; run `cdp audit verify`")
        finally:
            lock.release()

"""Signed checkpoints of the audit log's head, kept in the key store database (not the data database).

After a commit that appended audit entries, the process reads the head, verifies the entries written since the
newest checkpoint (so a checkpoint only ever extends a chain that was intact) and stores a new checkpoint signed
with HMAC-SHA256 under a key from the key store (wrapped by the master key: an owner of either database cannot
forge one). `verify_log` checks the whole chain against the newest checkpoint, so a log cut short — even
emptied — fails verification with no hand-kept anchor.

Checkpoints are spaced: at most one per `audit_checkpoint_seconds` per process and key store (0: after every
audited commit). A commit inside the interval defers its checkpoint to a timer that fires when the interval
has passed, so every entry is checkpointed within about one interval of its commit, however quiet the server
gets; closing the store (shutdown) and leaving the process write a deferred checkpoint at once. The chain
itself still links every entry: spacing only widens the newest entries' window in which cutting them off the
log's end goes unnoticed (docs/robustness.md).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete, event, insert, select
from sqlmodel import Session

import audit
from audit import Checkpoint, VerifyResult
from audit.canonical import iso_utc
from cdp.crypto.keystore import KeyStore, audit_checkpoint
from cdp.store import Store

CHECKPOINT_KEY = "audit-checkpoint"
KEEP = 1_000  # checkpoints kept at least; verification needs only the newest
TRIM_EVERY = 100  # older ones are deleted every this many checkpoints, not on each
_log = logging.getLogger(__name__)


@dataclass
class _Cadence:
    """A key store's checkpointing in this process: one writer at a time, whether a commit is waiting for the
    writer to go again, when the last checkpoint was written, and the store whose checkpoint is deferred."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    waiting: bool = False
    last_written: float | None = None
    deferred: weakref.ReferenceType[Store] | None = None
    timer: threading.Timer | None = None
    flushed_on_close: weakref.ReferenceType[Store] | None = None  # the store that flushes when closed
    guard: threading.Lock = field(default_factory=threading.Lock)  # over `deferred` and `timer`


# Keyed by the key store object itself, not its id(): a new store must never inherit a closed one's cadence.
_cadences: weakref.WeakKeyDictionary[KeyStore, _Cadence] = weakref.WeakKeyDictionary()
_cadences_lock = threading.Lock()


def _cadence(keystore: KeyStore) -> _Cadence:
    with _cadences_lock:
        cadence = _cadences.get(keystore)
        if cadence is None:
            cadence = _cadences[keystore] = _Cadence()
        return cadence


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
    with _cadence(store.keystore).lock:
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
    _cadence(store.keystore).last_written = time.monotonic()
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
    cadence = _cadence(store.keystore)
    last, interval = cadence.last_written, store.settings.audit_checkpoint_seconds
    if last is not None and (wait := last + interval - time.monotonic()) > 0:
        _defer(store, cadence, wait)
        return
    _checkpoint_now(store, cadence)


def _checkpoint_now(store: Store, cadence: _Cadence) -> None:
    """Write a checkpoint that covers every commit so far, unless another thread is writing one: a commit never
    waits for another's checkpoint; the writer writes once more after it (it reads the head again, which
    includes this commit)."""
    with cadence.guard:  # whatever was deferred is covered by what is written now
        cadence.deferred = None
        if cadence.timer is not None:
            cadence.timer.cancel()
            cadence.timer = None
    cadence.waiting = True
    while cadence.waiting:
        if not cadence.lock.acquire(blocking=False):
            return  # the holder looks at `waiting` again after releasing
        try:
            cadence.waiting = False
            _write(store)
        except Exception:  # the operation has committed; a failed checkpoint is reported, not raised into it
            _log.exception("audit checkpoint not written; run `cdp audit verify`")
        finally:
            cadence.lock.release()


def _defer(store: Store, cadence: _Cadence, wait: float) -> None:
    """Checkpoint this commit when the interval has passed (a timer), or at shutdown, whichever comes first."""
    with cadence.guard:
        if cadence.flushed_on_close is None or cadence.flushed_on_close() is not store:
            cadence.flushed_on_close = weakref.ref(store)
            store.on_close(lambda: flush(store))
        cadence.deferred = weakref.ref(store)
        if cadence.timer is None:
            cadence.timer = threading.Timer(wait, _deferred_due, args=(weakref.ref(store.keystore),))
            cadence.timer.daemon = True
            cadence.timer.start()


def _deferred_due(keystore: weakref.ReferenceType[KeyStore]) -> None:
    alive = keystore()
    cadence = _cadences.get(alive) if alive is not None else None
    store = cadence.deferred() if cadence is not None and cadence.deferred is not None else None
    if cadence is not None and store is not None:
        _checkpoint_now(store, cadence)


def flush(store: Store) -> None:
    """Write the checkpoint this process deferred for `store`, if any: what shutdown does."""
    cadence = _cadences.get(store.keystore)
    if cadence is not None and cadence.deferred is not None:
        _checkpoint_now(store, cadence)


@atexit.register
def _flush_at_exit() -> None:
    """A process that leaves without closing its store (a CLI command) still checkpoints what it deferred."""
    for cadence in list(_cadences.values()):
        store = cadence.deferred() if cadence.deferred is not None else None
        if store is not None:
            _checkpoint_now(store, cadence)

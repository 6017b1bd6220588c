"""The access engine: desired access (mirror + rules + now) minus actual access (our rows) = operations.

One job per module, stacked one way (each imports only those after it):
- `boundaries`: the instants access changes with no webhook (a booking's edges at a vendor without time
  windows, a membership's first and last day), one due row each, which queues the member's sync then.
- `jobs`: the queue of access syncs (enqueue, perform with retries, supersede, prune).
- `run`: one sync run of a space: locking, chunks, reading the vendors' people, error policy, the
  report. `run.access_sync` is the one entry point.
- `plan`: the diff for each member at each connection, as operations.
- `apply`: one small function per operation type, each calling the vendor (or Cobot) and recording it.
- `operations`: the operation types; `desired`: what each member should open now, from mirror and rules.

`access_sync` serves one member (after a Cobot webhook), every member (the schedule, "Sync now") and the
dry run ("Preview sync", `manage.py sync_access --dry-run`), which returns the operations without applying
them.

What a vendor can do decides what "access" means there (capabilities, never vendor names):
- person accounts without door groups (SmartLock): a person exists while the member should open at
  least one of the connection's doors right now; pausing and the end of a booking remove the person.
- door groups: the person (if the vendor has people) stays while the member is current; doors are
  granted and revoked one by one, with the booking window when the vendor takes time windows, else
  at the window's start and end (an AccessBoundary row due at each edge, see `boundaries`).
- neither (remote open only, The Keys): nothing to apply; `member_may_open` decides at open time.

Dates: Cobot's dates (canceled_to, starts_at) are days at the space, compared with the space's own
today (spaces.localtime.space_today), never the server's.

Time passes: a rule that "requires an unused time pass" pauses a member who has none left, except on a
day they already checked in (a door event or an open from AccessBridge that Cobot accepted, "checked
in" or "already", on the space's calendar day): that check-in is what used their last pass, and it pays
for the rest of the day.

Errors: a vendor that fails transiently or rejects our credentials is left alone for the rest of the
run (its pending changes stay for the retry). A failed read of the vendor's list of people leaves that
list unknown: it only serves to re-create people missing at the vendor, so nothing is removed and
nothing else is held back because of it. A space whose Cobot connection needs a reconnect is still
synced: only the check-in token registrations wait. Nothing is revoked because of an error.

Crashes: each step commits on its own, so a vendor call never sits inside a long transaction. Before
asking a vendor to create a person or a grant, a PENDING row is committed: if the worker dies between
the vendor's answer and our row, the next run finds the PENDING row, looks the person up by email
(to adopt them, or to remove them if the member has gone meanwhile) or repeats the grant (adapters
make it idempotent), so nothing created at a vendor is ever unknown to us.

One sync per space at a time: on PostgreSQL an advisory lock (run.space_sync_exclusive) makes a second
sync of the same space give way (SyncInProgress: the job runner tries again shortly). On SQLite, writes
are serialized by the database; two worker processes can still interleave their vendor calls, which
the PENDING rows and the vendors' idempotent create (an email they know is looked up, not duplicated)
keep harmless.
"""

"""Every Parakey detail that was inferred rather than read in Parakey's own documentation, in one place.

Parakey's Partner API reference was not reachable (docs/parakey.md). What is verified (help.parakey.co,
seed 004) is used elsewhere as is; what is below was seen only in a third-party demo client or is our
best reading: one edit here corrects it. Base URL and token header are also connection settings (these
are their defaults), so a space can correct them without a release.
"""

DEFAULT_BASE_URL = "https://api.parakey.co"  # inferred
DEFAULT_TOKEN_HEADER = "access-token"  # inferred: the header carrying the integration's API token

ACCESSES_PATH = "/accesses"  # inferred: the keys ("accesses") the token may manage
ACCESS_KEYS_PATH = "/access-keys"  # inferred: POST = manage access (insert/delete), GET = list access keys
BATCH_PATH = "/batches/{batch_id}"  # verified: GET /batches/<id> gives per-item results
EVENT_LOGS_PATH = "/eventLogs"  # verified: GET /eventLogs (seed 004, help center)
DOMAIN_PARAM = "domainId"  # verified as the access-key list's filter; sent with every list

# An event log's field names (inferred: only `id`, `createdAt` and `timestamp` are named in the help
# center). Each tuple is tried in order; the first present wins.
EVENT_KIND_FIELDS = ("type", "eventType", "action")
EVENT_USER_FIELDS = ("user",)  # an object with `id` and/or `email`
EVENT_USER_EMAIL_FIELDS = ("userEmail", "email")
EVENT_USER_ID_FIELDS = ("userId",)
EVENT_ACCESS_FIELDS = ("access",)  # an object with `id`
EVENT_ACCESS_ID_FIELDS = ("accessId",)

# Batch and item states (inferred): a batch still running is waited for briefly, then retried later.
BATCH_DONE_STATES = frozenset({"completed", "complete", "done", "finished", "failed"})
ITEM_OK_STATES = frozenset({"success", "succeeded", "ok", "completed", "done"})

# Lists may come bare or wrapped in an object under one of these keys (inferred).
LIST_ENVELOPE_KEYS = ("data", "items", "results")

"""What the gateway's numeric statuses mean, in words an admin can act on.

Seed 003 ("Contrôler la serrure avec la gateway") documents outcomes only in the JSON body, and the same
number means different things per endpoint: 1 is "lock not seen" for /locker/synchronize but "invalid
firmware" for /update. So every code is looked up in the table of the endpoint family that answered.
The French terms of the seed are kept in the comments.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from locks.vendors.base import (
    DeviceOffline,
    VendorAuthError,
    VendorError,
    VendorPermanentError,
    VendorTransientError,
)

SERVICE = "The Keys gateway"


class Family(StrEnum):
    ACTION = "action"  # /open, /close, /locker_status (signed)
    LOCKER_SYNC = "locker_sync"  # /locker/synchronize, /locker/update
    FIRMWARE = "firmware"  # /update
    GATEWAY = "gateway"  # /synchronize, /lockers, /status: the seed lists only "busy" for these


# "Si la gateway est occupée (autre action en cours): {"status": "500", "message": "busy"}"
BUSY = 500

# Errors of /open (and /close, /locker_status: "il n'y a que l'url qui change")
MISSING_PARAMETER = 400  # "Paramètre manquant" (the code names timestamp, hash or identifier)
NOT_SHARED = 32  # "La serrure n'est pas partagée"
INVALID_HMAC = 33  # "Hmac invalide"
NOT_DETECTED = 34  # "La serrure n'est pas detectée"
NOT_COMPATIBLE = 35  # "La serrure n'est pas compatible"
KEY_REFUSED = 36  # "Clé invalide": the lock refused the gateway's key
OTHER_ERROR = 37  # "Autre erreur": connection to the lock failed or was cut, or the lock timed out
# Not in the seed: vendors.md (observed in clients) and openHAB's LockerStatusDTO (NEED_RESYNC = 0x26):
# the gateway's clock is invalid; /synchronize sets it from api.the-keys.fr.
CLOCK_INVALID = 38

# Errors of /locker/synchronize (and /locker/update, whose errors the seed does not list separately)
SYNC_NOT_SEEN = 1  # "Serrure non détectée": la serrure n'est pas vue par la gateway
SYNC_NOT_COMPATIBLE = 2  # "Serrure non compatible"
SYNC_INVALID_DATA = 3  # "Données invalides": api.the-keys.fr sent invalid synchronization data
SYNC_CONNECTION_ERROR = 4  # "Erreur lors de la synchronisation": erreur de connexion avec la serrure

# Errors of /update ("Mise à jour de la gateway")
FIRMWARE_INVALID = 1  # "Firmware invalide": usually a download error
FIRMWARE_GENERIC = 2  # "Erreur générique": the server did not send the firmware

# /locker_status answers ("Il y a 3 codes possibles en réponse")
STATE_UNKNOWN = 0x30  # "Etat inconnue": the lock has just started (after an update, for example)
STATE_CLOSED = 0x31  # "Porte fermée"
STATE_OPEN = 0x32  # "Porte ouverte"
STATES = {STATE_UNKNOWN: "unknown", STATE_CLOSED: "closed", STATE_OPEN: "open"}


@dataclass(frozen=True)
class Meaning:
    message: str
    error: type[VendorError]


_SYNC_DOORS = "run “Sync doors” on the connection to create the gateway share again"

MEANINGS: dict[Family, dict[int, Meaning]] = {
    Family.ACTION: {
        MISSING_PARAMETER: Meaning(
            "The gateway says a parameter is missing from the request (timestamp, hash or identifier).",
            VendorPermanentError,
        ),
        NOT_SHARED: Meaning(f"The lock is not shared with the gateway: {_SYNC_DOORS}.", VendorAuthError),
        INVALID_HMAC: Meaning(
            "The gateway rejected the signature (invalid HMAC), also after a retry with a fresh timestamp. "
            f"The share code stored for this door is probably outdated: {_SYNC_DOORS}.",
            VendorAuthError,
        ),
        NOT_DETECTED: Meaning(
            "The gateway does not detect the lock: check that the lock has battery and is within Bluetooth "
            "range of the gateway.",
            DeviceOffline,
        ),
        NOT_COMPATIBLE: Meaning("The lock is not compatible with this gateway.", VendorPermanentError),
        KEY_REFUSED: Meaning(
            "The lock refused the gateway's key: check in The Keys app that the gateway share still exists, "
            "then synchronize the lock.",
            VendorAuthError,
        ),
        OTHER_ERROR: Meaning(
            "The gateway could not talk to the lock (connection failed or cut, or the lock did not answer "
            "in time). Try again.",
            VendorTransientError,
        ),
        CLOCK_INVALID: Meaning(
            "The gateway's clock is invalid, also after synchronizing the gateway: check that the gateway "
            "reaches the internet (api.the-keys.fr).",
            VendorTransientError,
        ),
    },
    Family.LOCKER_SYNC: {
        MISSING_PARAMETER: Meaning("The gateway says the lock identifier is missing.", VendorPermanentError),
        SYNC_NOT_SEEN: Meaning(
            "The gateway does not see the lock: check that the lock has battery and is within Bluetooth "
            "range of the gateway.",
            DeviceOffline,
        ),
        SYNC_NOT_COMPATIBLE: Meaning("The lock is not compatible with this gateway.", VendorPermanentError),
        SYNC_INVALID_DATA: Meaning(
            "The Keys' server (api.the-keys.fr) sent invalid synchronization data, a problem on their side. "
            "Try again later.",
            VendorTransientError,
        ),
        SYNC_CONNECTION_ERROR: Meaning(
            "The gateway lost the connection to the lock while synchronizing. Try again.",
            VendorTransientError,
        ),
    },
    Family.FIRMWARE: {
        FIRMWARE_INVALID: Meaning(
            "The gateway could not install the firmware (invalid firmware, usually a failed download). "
            "Try again.",
            VendorTransientError,
        ),
        FIRMWARE_GENERIC: Meaning(
            "The gateway got no firmware from The Keys' server. Try again later.", VendorTransientError
        ),
    },
    Family.GATEWAY: {},
}

BUSY_MESSAGE = "The gateway stayed busy with another action; try again in a moment."


def gateway_error(*, family: Family, code: int, detail: str = "") -> VendorError:
    """The error for status `code` from an endpoint of `family`; `vendor_code` keeps the raw number."""
    if code == BUSY:
        exc: VendorError = VendorTransientError(BUSY_MESSAGE, service=SERVICE)
    elif (meaning := MEANINGS[family].get(code)) is not None:
        message = meaning.message
        if code == MISSING_PARAMETER and detail:
            message = f"{message} The gateway said: {detail[:200]}"
        exc = meaning.error(message, service=SERVICE)
    else:
        message = f"The gateway answered with status {code}, which The Keys' documentation does not list."
        if detail:
            message = f"{message} It said: {detail[:200]}"
        exc = VendorPermanentError(message, service=SERVICE)
    exc.vendor_code = code
    return exc

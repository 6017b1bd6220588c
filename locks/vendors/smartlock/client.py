"""SmartLock HTTP client (seed 000, shared/vendors.md "SmartLock").

Auth is a fixed token in `X-Api-Token`; the base URL is per connection, typed in by a space admin: it is
checked before every request (locks.vendors.addresses: https, public addresses only), and error messages
carry the HTTP status only, never the answer's body (it would echo whatever that host says back to the
admin). Every call goes through the shared HTTP session; its errors become the adapter error classes
here, in one place. Answers are parsed strictly: a malformed answer is a vendor error, never a KeyError.
"""

from __future__ import annotations

from functools import partial

from accessbridge.http import ServiceError, http_request
from locks.vendors.addresses import public_url_guard
from locks.vendors.base import VendorPermanentError, answer_id, answer_json, status_only, vendor_error_from

SERVICE = "SmartLock"
_json = partial(answer_json, service=SERVICE)
_json_object = partial(answer_json, service=SERVICE, shape=dict)
_user_id = partial(answer_id, service=SERVICE, what="user id")


class SmartLockClient:
    def __init__(self, *, base_url: str, api_token: str):
        self.base_url = base_url.rstrip("/")
        self.api_token = api_token

    def _request(self, method: str, path: str, *, ok_statuses: tuple[int, ...] = (), **kwargs):
        address_check = public_url_guard(self.base_url, service=SERVICE)
        headers = {"X-Api-Token": self.api_token, "Accept": "application/json"}
        try:
            return http_request(
                method,
                f"{self.base_url}{path}",
                service=SERVICE,
                headers=headers,
                ok_statuses=ok_statuses,
                address_check=address_check,
                **kwargs,
            )
        except ServiceError as exc:
            raise vendor_error_from(status_only(exc)) from None

    # seed 000: POST /users {email} → {id, ...}; an email it knows already answers 409 (VendorConflict)
    def user_create(self, *, email: str) -> str:
        response = self._request("POST", "/users", json={"email": email})
        return _user_id(_json_object(response))

    # GET /users?email=<email> → [{id, email}]; filtered here too, for a server that lists everyone
    def user_find(self, *, email: str) -> str | None:
        wanted = email.strip().lower()
        for user in self.users_list(email=email):
            if str(user.get("email") or "").strip().lower() == wanted:
                return _user_id(user)
        return None

    # vendors.md: DELETE /users/<id>; 404 = already gone
    def user_delete(self, *, user_id: str) -> None:
        self._request("DELETE", f"/users/{user_id}", ok_statuses=(404,))

    # GET /users → [{id, email}] (our "generic REST lock" definition; used by "test connection")
    def users_list(self, *, email: str | None = None) -> list[dict]:
        params = {"email": email} if email is not None else None
        data = _json(self._request("GET", "/users", params=params))
        if not isinstance(data, list) or not all(isinstance(u, dict) for u in data):
            raise VendorPermanentError("expected a JSON list of users", service=SERVICE)
        for user in data:
            _user_id(user)
        return data

"""Azure credentials and ARM client wiring (docs/contract.md 4).

Where the credential comes from, in order:
1. the emulator (``settings.emulator.enabled``): a real OAuth2 client-credentials exchange over plain HTTP
   with the emulator's token endpoint (``EmulatorTokenCredential``), using the service principal or the
   DynamoDB item below when one is configured (so that path is exercised end to end), else an
   emulator-only client. azure-identity's
   ``ClientSecretCredential`` refuses non-TLS authorities (``normalize_authority`` raises for http://,
   docs/azure-facts.md 5.2), so emulator mode uses this small credential instead; tokens still expire and
   are refreshed, exactly as with the real one.
2. a service principal in the environment (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET,
   AZURE_SUBSCRIPTION_IDS) -> ``azure.identity.ClientSecretCredential``;
3. the DynamoDB table ``AZURE_AUTH_TABLE`` (SpotLake's ``AzureAuth``) in ``AZURE_AUTH_REGION`` (default: the
   job's region), item ``id = AZURE_AUTH_ITEM``, in either of two layouts (detected per item):
   - SpotLake's production item (``id = 'login_auth_az_true'``, table in us-east-1): one map attribute
     ``data`` with ``tenant_id``, ``client_id``, ``client_secret`` and ``subscriptions`` (comma-separated);
     layout as SpotLake's Azure collector reads it (public repository ddps-lab/spotlake, ``collector/
     spot-dataset/azure``, observed January 2026);
   - the flat item: attributes TenantId, ClientId, ClientSecret, SubscriptionId (one id or a comma list).

A missing or refused credential raises ``RunFailed`` with a message that never contains the secret.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import requests
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HTTPPolicy

from utils.errors import RunFailed

ARM_SCOPE = "https://management.azure.com/.default"
EMULATOR_TENANT = "00000000-0000-4000-8000-000000000000"
EMULATOR_CLIENT_ID = "spotlake-emulator-client"
_REFRESH_MARGIN_SECONDS = 120


def emulator_subscription_ids(count: int) -> tuple[str, ...]:
    """Deterministic GUID-shaped subscription ids for emulator mode."""
    return tuple(str(uuid.uuid5(uuid.NAMESPACE_URL, f"spotlake-emulator-subscription-{i}")) for i in range(count))


class EmulatorTokenCredential:
    """OAuth2 client-credentials over HTTP(S) with caching and refresh; a ``TokenCredential``.

    POST ``{authority}/{tenant}/oauth2/v2.0/token`` with ``grant_type=client_credentials`` ->
    ``{"token_type": "Bearer", "expires_in": 3599, "access_token": "..."}``.
    """

    def __init__(
        self,
        authority: str,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        *,
        session: requests.Session | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._url = f"{authority.rstrip('/')}/{tenant_id}/oauth2/v2.0/token"
        self._client_id = client_id
        self._secret = client_secret
        self._session = session or requests.Session()
        self._timeout = timeout
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self._refresh_at = 0.0

    def __repr__(self) -> str:
        return f"EmulatorTokenCredential(url={self._url!r})"

    def invalidate(self) -> None:
        """Forget the cached token (after a 401 Expired/InvalidAuthenticationToken)."""
        with self._lock:
            self._token = None

    def get_token(self, *scopes: str, **_kwargs: Any) -> AccessToken:
        with self._lock:
            if self._token is not None and time.time() < self._refresh_at:
                return self._token
            scope = scopes[0] if scopes else ARM_SCOPE
            body = {
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._secret,
                "scope": scope,
            }
            last_error: Exception | None = None
            for attempt in range(4):
                if attempt:
                    time.sleep(min(0.2 * 2 ** (attempt - 1), 2.0))
                try:
                    response = self._session.post(self._url, data=body, timeout=self._timeout)
                except requests.RequestException as exc:
                    last_error = exc
                    continue
                if response.status_code >= 500 or response.status_code == 429:
                    last_error = RunFailed(f"token endpoint answered HTTP {response.status_code}")
                    continue
                if response.status_code != 200:
                    raise ClientAuthenticationError(
                        message=f"token request refused: HTTP {response.status_code} {_error_code(response)}"
                    )
                try:
                    payload = response.json()
                    token = AccessToken(payload["access_token"], int(time.time()) + int(payload["expires_in"]))
                except (ValueError, KeyError, TypeError) as exc:
                    last_error = RunFailed(f"token endpoint answered an unreadable body ({type(exc).__name__})")
                    continue
                # Refresh ahead of expiry: 120 s early, or half-way through a short-lived token.
                lifetime = max(token.expires_on - time.time(), 0.0)
                self._refresh_at = time.time() + max(lifetime - _REFRESH_MARGIN_SECONDS, lifetime / 2)
                self._token = token
                return token
            raise ClientAuthenticationError(message=f"token request failed after retries: {last_error}")


def _error_code(response: requests.Response) -> str:
    try:
        return str(response.json().get("error", ""))
    except ValueError:
        return ""


class HttpBearerPolicy(HTTPPolicy):
    """Sets ``Authorization: Bearer`` from a credential on every request, over http or https.

    azure-core's ``BearerTokenCredentialPolicy`` refuses non-https URLs (``_enforce_https``, reference
    docs/azure-facts.md 5.3), so ARM clients pointed at the emulator use this policy. On a 401 it refreshes the token
    once and resends (expired token mid-sweep).
    """

    def __init__(self, credential: Any, scope: str = ARM_SCOPE) -> None:
        super().__init__()
        self._credential = credential
        self._scope = scope

    def send(self, request: PipelineRequest) -> PipelineResponse:
        token = self._credential.get_token(self._scope).token
        request.http_request.headers["Authorization"] = f"Bearer {token}"
        response = self.next.send(request)
        if response.http_response.status_code == 401 and hasattr(self._credential, "invalidate"):
            self._credential.invalidate()
            token = self._credential.get_token(self._scope).token
            request.http_request.headers["Authorization"] = f"Bearer {token}"
            response = self.next.send(request)
        return response


@dataclass(frozen=True)
class AzureAuth:
    """A credential, the subscriptions it may use, and the endpoints to use it on."""

    credential: Any
    subscription_ids: tuple[str, ...]
    arm_endpoint: str
    prices_endpoint: str

    def arm_client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for any azure-mgmt client: base_url, and an http-capable auth policy."""
        kwargs: dict[str, Any] = {"base_url": self.arm_endpoint}
        if self.arm_endpoint.startswith("http://") or isinstance(self.credential, EmulatorTokenCredential):
            kwargs["authentication_policy"] = HttpBearerPolicy(self.credential)
        return kwargs

    def bearer_token(self) -> str:
        """A current ARM access token (cached by the credential) for plain ``requests`` calls."""
        return self.credential.get_token(ARM_SCOPE).token

    def invalidate_token(self) -> None:
        if hasattr(self.credential, "invalidate"):
            self.credential.invalidate()


def load_azure_auth(
    settings: Any, *, dynamodb_client: Any = None, session: requests.Session | None = None
) -> AzureAuth:
    """Build the ``AzureAuth`` the settings call for (see module docstring for the order).

    Raises:
        RunFailed: no usable credential (missing item, missing attributes, table unreachable).
    """
    azure = settings.azure
    if settings.emulator.enabled:
        # The same credential sources as production, exchanged at the emulator's token endpoint; with none
        # configured, an emulator-only credential and deterministic subscription ids.
        tenant, client, secret, subs = azure.tenant_id, azure.client_id, azure.client_secret, azure.subscription_ids
        if not azure.has_service_principal and azure.auth_table:
            tenant, client, secret, subs = _credential_from_dynamodb(settings, dynamodb_client)
        credential = EmulatorTokenCredential(
            azure.authority,
            tenant or EMULATOR_TENANT,
            client or EMULATOR_CLIENT_ID,
            secret or "emulator-secret",
            session=session,
            timeout=settings.http_timeout,
        )
        subs = subs or emulator_subscription_ids(settings.emulator.subscriptions)
        return AzureAuth(credential, subs, azure.arm_endpoint, azure.prices_endpoint)
    if azure.has_service_principal:
        tenant, client, secret, subs = azure.tenant_id, azure.client_id, azure.client_secret, azure.subscription_ids
    elif azure.auth_table:
        tenant, client, secret, subs = _credential_from_dynamodb(settings, dynamodb_client)
    else:
        raise RunFailed("no Azure credential configured (service principal environment or AZURE_AUTH_TABLE)")
    from azure.identity import ClientSecretCredential

    host = azure.authority.split("://", 1)[-1]
    credential = ClientSecretCredential(tenant, client, secret, authority=host)
    return AzureAuth(credential, subs, azure.arm_endpoint, azure.prices_endpoint)


# Flat layout attribute -> the data-map key holding the same value.
_FLAT_TO_MAP = {"TenantId": "tenant_id", "ClientId": "client_id", "ClientSecret": "client_secret",
                "SubscriptionId": "subscriptions"}  # fmt: skip


def credential_from_item(item: dict[str, Any], item_id: str) -> tuple[str, str, str, tuple[str, ...]]:
    """(tenant, client id, client secret, subscription ids) from a DynamoDB item in wire format.

    The item carries either a map attribute ``data`` (SpotLake's production layout) or the flat attributes;
    an item with a ``data`` attribute is read as the map layout only, so a half-migrated item is refused
    rather than mixed. Messages name the item, the layout and the missing field names, never a value.

    Raises:
        RunFailed: ``data`` is not a map, or a field is missing, empty or not a string.
    """
    if "data" in item:
        data = item["data"]
        if not isinstance(data, dict) or not isinstance(data.get("M"), dict):
            raise RunFailed(f"Azure credential item id={item_id!r}: attribute 'data' is not a map")
        fields, names, layout = data["M"], list(_FLAT_TO_MAP.values()), "data map"
    else:
        fields, names, layout = item, list(_FLAT_TO_MAP), "flat"
    values: dict[str, str] = {}
    for name in names:
        attr = fields.get(name)
        value = attr.get("S") if isinstance(attr, dict) else None
        if isinstance(value, str) and value.strip():
            values[name] = value.strip()
    missing = [name for name in names if name not in values]
    if missing:
        raise RunFailed(f"Azure credential item id={item_id!r} ({layout} layout) lacks string fields {missing}")
    tenant, client, secret, subscriptions = (values[name] for name in names)
    subs = tuple(s.strip() for s in subscriptions.split(",") if s.strip())
    if not subs:
        raise RunFailed(f"Azure credential item id={item_id!r} ({layout} layout) lists no subscription")
    return tenant, client, secret, subs


def _credential_from_dynamodb(settings: Any, client: Any) -> tuple[str, str, str, tuple[str, ...]]:
    azure = settings.azure
    where = f"DynamoDB table {azure.auth_table!r} in {azure.auth_region}"
    if client is None:
        from utils.aws import aws_client

        client = aws_client("dynamodb", settings, region=azure.auth_region)
    try:
        response = client.get_item(TableName=azure.auth_table, Key={"id": {"S": azure.auth_item}}, ConsistentRead=True)
    except Exception as exc:  # botocore ClientError / EndpointConnectionError: say which, never the item
        response = getattr(exc, "response", None)
        code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
        hint = " (is AZURE_AUTH_REGION the table's region?)" if code == "ResourceNotFoundException" else ""
        raise RunFailed(f"cannot read Azure credential from {where}: {code or type(exc).__name__}{hint}") from None
    item = response.get("Item")
    if not item:
        raise RunFailed(f"{where} has no item with id={azure.auth_item!r}")
    return credential_from_item(item, azure.auth_item)

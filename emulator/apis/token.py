"""Microsoft Entra client-credentials token endpoint and the ARM bearer check (docs/azure-facts.md 5.1, 1.7).

``POST /{tenant}/oauth2/v2.0/token`` (form: grant_type=client_credentials, client_id, client_secret,
scope) returns ``{"token_type": "Bearer", "expires_in", "ext_expires_in", "access_token"}``. Any GUID tenant
and any client id/secret are accepted except the secret ``refused`` (401 ``invalid_client``,
AADSTS7000215). Tokens are JWT-shaped (``header.payload.signature``), HMAC-signed with a per-process key,
and expire after ``token_ttl`` seconds of the emulator clock.

The real ``azure-identity`` ``ClientSecretCredential`` refuses ``http://`` authorities (docs/azure-facts.md 5.2), so
emulator mode uses a small client-credentials HTTP credential against this endpoint; the endpoint is
OAuth2-shaped for that reason. ``GET /{tenant}/v2.0/.well-known/openid-configuration`` is served too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qsl

from emulator.errors import ArmError, OAuthError
from emulator.state import EmulatorState
from emulator.wire import ApiRequest, ApiResponse

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
REFUSED_SECRET = "refused"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_token(state: EmulatorState, tenant: str, client_id: str) -> tuple[str, int]:
    """A signed token for (tenant, client) valid for ``token_ttl`` seconds; returns (token, ttl)."""
    ttl = state.config.token_ttl
    now = int(state.clock.now().timestamp())
    header = _b64(json.dumps({"typ": "JWT", "alg": "HS256", "kid": "emulator"}).encode())
    payload = _b64(json.dumps({
        "aud": "https://management.azure.com/", "iss": f"https://sts.windows.net/{tenant}/", "iat": now,
        "nbf": now, "exp": now + ttl, "appid": client_id, "oid": client_id, "tid": tenant,
        "jti": uuid.uuid4().hex,
    }, separators=(",", ":")).encode())
    signature = _b64(hmac.new(state.token_key, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}", ttl


def verify_bearer(request: ApiRequest, state: EmulatorState) -> dict:
    """Claims of the request's bearer token.

    Raises:
        ArmError: 401 AuthenticationFailed (no header), InvalidAuthenticationToken (not ours / malformed),
            ExpiredAuthenticationToken (past ``exp`` on the emulator clock).
    """
    header = request.headers.get("authorization")
    if not header:
        raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
    scheme, _, token = header.partition(" ")
    invalid = ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.")
    if scheme.lower() != "bearer" or token.count(".") != 2:
        raise invalid
    head, payload, signature = token.strip().split(".")
    expected = _b64(hmac.new(state.token_key, f"{head}.{payload}".encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(expected, signature):
        raise invalid
    try:
        claims = json.loads(_unb64(payload))
    except (ValueError, UnicodeDecodeError):
        raise invalid from None
    now = state.clock.now()
    if claims.get("exp", 0) <= now.timestamp():
        expiry = datetime.fromtimestamp(claims.get("exp", 0), UTC)
        raise ArmError(401, "ExpiredAuthenticationToken",
                       f"The access token expiry UTC time '{expiry:%m/%d/%Y %I:%M:%S %p}' is earlier than current "
                       f"UTC time '{now:%m/%d/%Y %I:%M:%S %p}'.")
    return claims


def handle_token(request: ApiRequest, state: EmulatorState, empty_page: bool = False) -> ApiResponse:
    """Client-credentials grant."""
    tenant = request.params["tenant"]
    if not GUID_RE.match(tenant):
        raise OAuthError(400, "invalid_tenant", 90002,
                         f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID.")
    try:
        form = dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise OAuthError(400, "invalid_request", 900144, "The request body must be form-encoded.") from None
    grant = form.get("grant_type", "")
    if grant != "client_credentials":
        raise OAuthError(400, "unsupported_grant_type", 70003,
                         f"The app requested an unsupported grant type '{grant}'.")
    client_id = form.get("client_id", "")
    if not client_id:
        raise OAuthError(400, "invalid_request", 900144,
                         "The request body must contain the following parameter: 'client_id'.")
    scope = form.get("scope", "")
    if not scope.endswith("/.default"):
        raise OAuthError(400, "invalid_scope", 1002012,
                         f"The provided value for scope {scope} is not valid. Client credential flows must have "
                         "a scope value with /.default suffixed to the resource identifier.")
    secret = form.get("client_secret", "")
    if not secret:
        raise OAuthError(401, "invalid_client", 7000216,
                         "'client_assertion', 'client_secret' or 'request' is required for the "
                         "'client_credentials' grant type.")
    if secret == REFUSED_SECRET:
        raise OAuthError(401, "invalid_client", 7000215,
                         "Invalid client secret provided. Ensure the secret being sent in the request is the "
                         f"client secret value, not the client secret ID, for a secret added to app '{client_id}'.")
    token, ttl = issue_token(state, tenant, client_id)
    return ApiResponse.json(200, {"token_type": "Bearer", "expires_in": ttl, "ext_expires_in": ttl,
                                  "access_token": token})


def handle_openid_configuration(request: ApiRequest, state: EmulatorState,
                                empty_page: bool = False) -> ApiResponse:
    """OpenID discovery document (what MSAL fetches before the token POST)."""
    tenant = request.params["tenant"]
    base = f"{request.base_url}/{tenant}"
    return ApiResponse.json(200, {
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{request.base_url}/{tenant}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{request.base_url}/{tenant}/v2.0",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "tenant_region_scope": "NA",
    })

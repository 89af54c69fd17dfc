"""The one settings object, built once from the environment at each entry point (docs/contract.md 4).

No other module reads ``os.environ``: entry points call ``load_settings(os.environ)`` and pass the result
down. Invalid values raise ``ConfigError`` (exit 2) with a message naming the variable. Secrets are kept
out of ``repr`` so a logged settings object never leaks them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from utils.errors import ConfigError

DEFAULT_STORE = "./spotlake-data"
DEFAULT_SPS_KEY_FILE = "/tmp/sps_key.txt"  # the seed's handoff path; run_collection.sh gives its children a private one
DEFAULT_ARM_ENDPOINT = "https://management.azure.com"
DEFAULT_PRICES_ENDPOINT = "https://prices.azure.com"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
DEFAULT_TIMESTREAM = "timestream://spotlake/azure"
DEFAULT_CLOUDWATCH = "cloudwatch://Collection-Data-Count/Azure-Count"
SLACK_ENV = "error_notification_slack_webhook_url"
SLACK_SSM_PARAMETER = "error_notification_slack_webhook_url"


@dataclass(frozen=True)
class StoreConfig:
    kind: str  # "local" | "s3"
    root: Path | None = None  # local
    bucket: str | None = None  # s3
    prefix: str = ""  # s3, without leading/trailing slash

    def describe(self) -> str:
        if self.kind == "local":
            return str(self.root)
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")


@dataclass(frozen=True)
class TimeseriesConfig:
    kind: str  # "sqlite" | "timestream" | "parquet" | "none"
    sqlite_path: Path | None = None
    database: str | None = None
    table: str | None = None


@dataclass(frozen=True)
class MetricsConfig:
    kind: str  # "file" | "cloudwatch" | "none"
    path: Path | None = None
    log_group: str | None = None
    log_stream: str | None = None


@dataclass(frozen=True)
class AzureConfig:
    tenant_id: str | None
    client_id: str | None
    client_secret: str | None = field(repr=False)
    subscription_ids: tuple[str, ...]
    auth_table: str | None
    auth_item: str
    arm_endpoint: str
    prices_endpoint: str
    authority: str
    # Region of the DynamoDB auth table (SpotLake's AzureAuth lives in us-east-1 whatever the job's region).
    auth_region: str = "us-west-2"

    @property
    def has_service_principal(self) -> bool:
        return bool(self.tenant_id and self.client_id and self.client_secret and self.subscription_ids)


@dataclass(frozen=True)
class EmulatorConfig:
    enabled: bool
    url: str | None  # an emulator already running (the orchestrator exports it)
    catalog: Path | None  # catalog CSV for an emulator this process starts itself
    subscriptions: int  # emulator-mode subscription count when none is configured


@dataclass(frozen=True)
class RetryConfig:
    """Backoff for transient faults of the Azure APIs (timeouts, 5xx, resets, unreadable bodies, 429 with a hint)
    and of the AWS sinks' own retries (Timestream writes, CloudWatch Logs puts)."""

    max_attempts: int = 5
    base_delay: float = 1.0  # seconds; retry n sleeps uniform(0, min(max_delay, base_delay * 2**(n-1)))
    max_delay: float = 30.0
    max_retry_after: float = 60.0  # a server's Retry-After above this is cut to it


@dataclass(frozen=True)
class Settings:
    store: StoreConfig
    timeseries: TimeseriesConfig
    metrics: MetricsConfig
    azure: AzureConfig
    emulator: EmulatorConfig
    aws_region: str
    aws_endpoint_url: str | None
    sps_key_file: Path
    public_read: bool
    slack_webhook_url: str | None = field(repr=False)
    slack_ssm_parameter: str
    http_timeout: float
    price_workers: int
    sps_workers: int
    sps_quota_per_location: int
    sps_quota_window_minutes: int
    lease_ttl_seconds: int  # SPOTLAKE_LEASE_TTL, default job_timeout_seconds + 30 (Batch's SIGKILL grace)
    job_timeout_seconds: int  # SPOTLAKE_JOB_TIMEOUT: the Batch attempt timeout the run lives under
    fallback_max_age_hours: int
    clock: str  # "wall" (real time) or "slot" (now = slot time + elapsed; soak tests)
    alert_owner: str  # "self": this process alerts on failure; "orchestrator": run_collection.sh sends the one alert
    retry: RetryConfig = field(default_factory=RetryConfig)


# Schemes SPOTLAKE_STORE accepts; any other "word:" prefix is a typo, never a directory name.
_STORE_SCHEMES = ("s3://", "file://")
_SCHEME_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
# A known scheme with a mangled separator (``s3:/b``, ``s3//b``, ``file:/x``, ``s3:b``).
_MANGLED_SCHEME = re.compile(r"^(s3|file|sqlite|timestream|cloudwatch)(:/{0,1}(?!/)|:/{3,}|//)", re.IGNORECASE)


def expand_home(text: str, env: Mapping[str, str]) -> str:
    """``~`` and ``~/...`` expanded with HOME from ``env``, ``~user/...`` with that user's home."""
    if text == "~" or text.startswith("~/"):
        home = env.get("HOME") or os.path.expanduser("~")
        return home + text[1:]
    if text.startswith("~"):
        return os.path.expanduser(text)
    return text


def file_url_path(name: str, value: str, url: str) -> Path:
    """The absolute path of a ``file:///abs/path`` (or ``file://localhost/abs/path``) URL, percent-decoded.

    Raises:
        ConfigError: no absolute path, another host, or a NUL character (``%00``) in the path.
    """
    parsed = urlparse(url)
    if parsed.netloc not in {"", "localhost"} or not parsed.path.startswith("/"):
        raise ConfigError(f"{name}={value!r}: file:// URLs need an absolute path (file:///abs/dir)")
    path = unquote(parsed.path)
    if "\x00" in path:
        raise ConfigError(f"{name}={value!r}: the path contains a NUL character")
    return Path(path)


def _parse_store(value: str, cwd: Path, env: Mapping[str, str]) -> StoreConfig:
    lowered = value.lower()
    if _MANGLED_SCHEME.match(value) and not lowered.startswith(_STORE_SCHEMES):
        raise ConfigError(
            f"SPOTLAKE_STORE={value!r}: looks like a mistyped URL (expected s3://bucket[/prefix] or "
            "file:///abs/dir; write ./NAME for a directory whose name starts like a URL)"
        )
    if lowered.startswith("s3://"):
        parsed = urlparse(value)
        if not parsed.netloc:
            raise ConfigError(f"SPOTLAKE_STORE={value!r}: missing bucket name (expected s3://bucket[/prefix])")
        return StoreConfig(kind="s3", bucket=parsed.netloc, prefix=parsed.path.strip("/"))
    if lowered.startswith("file://"):
        root = file_url_path("SPOTLAKE_STORE", value, value)
    elif _SCHEME_LIKE.match(value):
        scheme = value.split(":", 1)[0]
        raise ConfigError(
            f"SPOTLAKE_STORE={value!r}: unsupported scheme {scheme!r} (use file:///abs/dir, ./dir or s3://bucket; "
            "write ./NAME for a directory whose name contains a colon)"
        )
    else:
        expanded = Path(expand_home(value, env))
        root = expanded if expanded.is_absolute() else (cwd / expanded)
    root = root.resolve()
    if root.exists() and not root.is_dir():
        raise ConfigError(f"SPOTLAKE_STORE={value!r}: {root} exists and is not a directory")
    probe = root if root.exists() else next((p for p in root.parents if p.exists()), None)
    if probe is not None and not probe.is_dir():
        raise ConfigError(f"SPOTLAKE_STORE={value!r}: {probe} is not a directory")
    # A read-only or failing store is not bad input but a store failure: the run finds it when it takes the
    # lease and fails with exit 1 and its one alert naming the store error (utils/store.py StoreError).
    return StoreConfig(kind="local", root=root)


def _require_writable_dir(name: str, value: str, directory: Path) -> None:
    """ConfigError unless ``directory`` exists writable, or its nearest existing ancestor is (it is created)."""
    probe = directory if directory.exists() else next((p for p in directory.parents if p.exists()), None)
    if probe is None or not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{name}={value!r}: {probe or directory} is not writable")


def _parse_sps_key_file(value: str | None, cwd: Path, env: Mapping[str, str]) -> Path:
    """The handoff file; refused at start when it could not be written after the sweep spent its quota."""
    text = value or DEFAULT_SPS_KEY_FILE
    path = Path(expand_home(text, env))
    path = path if path.is_absolute() else cwd / path
    if path.is_dir():
        raise ConfigError(f"SPS_KEY_FILE={text!r}: {path} is a directory")
    # Written as temp file + rename in its directory: the directory must be writable (the file itself need not).
    _require_writable_dir("SPS_KEY_FILE", text, path.parent)
    return path


def _sqlite_path(value: str, cwd: Path) -> Path:
    """``sqlite:///relative.db`` is relative to the working directory, ``sqlite:////abs.db`` absolute (the
    SQLAlchemy convention: https://docs.sqlalchemy.org/en/20/core/engines.html#sqlite, observed 2026-12-02)."""
    rest = unquote(value[len("sqlite:///") :])
    if not rest or rest.endswith("/"):
        raise ConfigError(f"SPOTLAKE_TIMESERIES={value!r}: expected sqlite:///relative.db or sqlite:////abs/path.db")
    path = Path(rest)
    return path if path.is_absolute() else (cwd / path).resolve()


def _parse_timeseries(value: str | None, store: StoreConfig, cwd: Path) -> TimeseriesConfig:
    if not value:
        if store.kind == "local":
            assert store.root is not None
            return TimeseriesConfig(kind="sqlite", sqlite_path=store.root / "timeseries.db")
        value = DEFAULT_TIMESTREAM
    if value in {"none", "parquet"}:
        return TimeseriesConfig(kind=value)
    if value.startswith("sqlite:///"):
        return TimeseriesConfig(kind="sqlite", sqlite_path=_sqlite_path(value, cwd))
    if value.startswith("timestream://"):
        parts = value[len("timestream://") :].strip("/").split("/")
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"SPOTLAKE_TIMESERIES={value!r}: expected timestream://DATABASE/TABLE")
        return TimeseriesConfig(kind="timestream", database=parts[0], table=parts[1])
    raise ConfigError(
        f"SPOTLAKE_TIMESERIES={value!r}: expected timestream://DATABASE/TABLE, sqlite:///path.db, parquet or none"
    )


def _parse_metrics(value: str | None, store: StoreConfig) -> MetricsConfig:
    if not value:
        if store.kind == "local":
            assert store.root is not None
            return MetricsConfig(kind="file", path=store.root / "metrics" / "collection_count.log")
        value = DEFAULT_CLOUDWATCH
    if value == "none":
        return MetricsConfig(kind="none")
    if value.startswith("file://"):
        return MetricsConfig(kind="file", path=file_url_path("SPOTLAKE_METRICS", value, value))
    if value.startswith("cloudwatch://"):
        parts = value[len("cloudwatch://") :].strip("/").split("/", 1)
        if len(parts) != 2 or not all(parts):
            raise ConfigError(f"SPOTLAKE_METRICS={value!r}: expected cloudwatch://LOG_GROUP/LOG_STREAM")
        return MetricsConfig(kind="cloudwatch", log_group=parts[0], log_stream=parts[1])
    raise ConfigError(
        f"SPOTLAKE_METRICS={value!r}: expected cloudwatch://LOG_GROUP/LOG_STREAM, file:///path.log or none"
    )


def _http_url(name: str, value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise ConfigError(f"{name}={value!r}: expected an http(s):// URL")
    return value.rstrip("/")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r}: expected an integer") from exc
    if value < minimum:
        raise ConfigError(f"{name}={raw!r}: must be >= {minimum}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool | None:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return None
    if raw in {"1", "true", "yes"}:
        return True
    if raw in {"0", "false", "no"}:
        return False
    raise ConfigError(f"{name}={raw!r}: expected 1 or 0")


def load_settings(env: Mapping[str, str], *, cwd: Path | None = None, azure_credential: bool = True) -> Settings:
    """Build and validate the settings from an environment mapping (normally ``os.environ``).

    ``azure_credential=False`` is for entry points that never call Azure (the merge, the run's helpers): a
    missing Azure credential outside emulator mode is then not an error.

    Raises:
        ConfigError: a variable is malformed, names an unsupported scheme, or points at an unusable path.
    """
    cwd = cwd or Path.cwd()
    store = _parse_store(env.get("SPOTLAKE_STORE") or DEFAULT_STORE, cwd, env)
    subs = tuple(s.strip() for s in env.get("AZURE_SUBSCRIPTION_IDS", "").split(",") if s.strip())
    aws_region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-west-2"
    auth_region = env.get("AZURE_AUTH_REGION") or aws_region
    if env.get("AZURE_AUTH_REGION") and not re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-[0-9]", auth_region):
        raise ConfigError(f"AZURE_AUTH_REGION={auth_region!r}: expected an AWS region code such as us-east-1")
    azure = AzureConfig(
        tenant_id=env.get("AZURE_TENANT_ID") or None,
        client_id=env.get("AZURE_CLIENT_ID") or None,
        client_secret=env.get("AZURE_CLIENT_SECRET") or None,
        subscription_ids=subs,
        auth_table=env.get("AZURE_AUTH_TABLE") or None,
        auth_item=env.get("AZURE_AUTH_ITEM") or "default",
        arm_endpoint=_http_url("AZURE_ARM_ENDPOINT", env.get("AZURE_ARM_ENDPOINT") or DEFAULT_ARM_ENDPOINT),
        prices_endpoint=_http_url(
            "AZURE_PRICES_ENDPOINT", env.get("AZURE_PRICES_ENDPOINT") or DEFAULT_PRICES_ENDPOINT
        ),
        authority=_http_url("AZURE_AUTHORITY", env.get("AZURE_AUTHORITY") or DEFAULT_AUTHORITY),
        auth_region=auth_region,
    )
    has_credential = azure.has_service_principal or azure.auth_table is not None
    emulator_flag = _flag(env, "SPOTLAKE_AZURE_EMULATOR")
    emulator_enabled = emulator_flag if emulator_flag is not None else (not has_credential and store.kind == "local")
    emulator_url = env.get("SPOTLAKE_EMULATOR_URL") or None
    if emulator_url:
        emulator_url = _http_url("SPOTLAKE_EMULATOR_URL", emulator_url)
    catalog_text = env.get("SPOTLAKE_EMULATOR_CATALOG") or None
    catalog = Path(catalog_text).resolve() if catalog_text else None
    if catalog is not None and not (catalog.is_file() and os.access(catalog, os.R_OK)):
        raise ConfigError(f"SPOTLAKE_EMULATOR_CATALOG={catalog_text!r}: not a readable file")
    if emulator_enabled and emulator_url:
        azure = AzureConfig(
            **{**azure.__dict__, "arm_endpoint": emulator_url, "prices_endpoint": emulator_url,
               "authority": emulator_url}
        )  # fmt: skip
    if azure_credential and not emulator_enabled and not has_credential:
        raise ConfigError(
            "no Azure credential: set AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and "
            "AZURE_SUBSCRIPTION_IDS, or AZURE_AUTH_TABLE, or SPOTLAKE_AZURE_EMULATOR=1"
        )
    clock = env.get("SPOTLAKE_CLOCK") or "wall"
    if clock not in {"wall", "slot"}:
        raise ConfigError(f"SPOTLAKE_CLOCK={clock!r}: expected wall or slot")
    timeout_raw = env.get("SPOTLAKE_HTTP_TIMEOUT") or "30"
    try:
        http_timeout = float(timeout_raw)
    except ValueError as exc:
        raise ConfigError(f"SPOTLAKE_HTTP_TIMEOUT={timeout_raw!r}: expected seconds") from exc
    if http_timeout <= 0:
        raise ConfigError(f"SPOTLAKE_HTTP_TIMEOUT={timeout_raw!r}: must be > 0")
    aws_endpoint = env.get("AWS_ENDPOINT_URL") or None
    if aws_endpoint:
        aws_endpoint = _http_url("AWS_ENDPOINT_URL", aws_endpoint)
    timeseries = _parse_timeseries(env.get("SPOTLAKE_TIMESERIES"), store, cwd)
    metrics = _parse_metrics(env.get("SPOTLAKE_METRICS"), store)
    for name, local_file in (("SPOTLAKE_TIMESERIES", timeseries.sqlite_path), ("SPOTLAKE_METRICS", metrics.path)):
        if local_file is not None:  # a local sink file is created on first write: its directory must allow it
            _require_writable_dir(name, env.get(name) or str(local_file), local_file.parent)
    return Settings(
        store=store,
        timeseries=timeseries,
        metrics=metrics,
        azure=azure,
        emulator=EmulatorConfig(
            enabled=emulator_enabled,
            url=emulator_url,
            catalog=catalog,
            subscriptions=_int(env, "SPOTLAKE_EMULATOR_SUBSCRIPTIONS", 12),
        ),
        aws_region=aws_region,
        aws_endpoint_url=aws_endpoint,
        sps_key_file=_parse_sps_key_file(env.get("SPS_KEY_FILE"), cwd, env),
        public_read=bool(_flag(env, "SPOTLAKE_PUBLIC_READ")),
        slack_webhook_url=env.get(SLACK_ENV) or None,
        slack_ssm_parameter=env.get("SPOTLAKE_SLACK_SSM_PARAMETER") or SLACK_SSM_PARAMETER,
        http_timeout=http_timeout,
        price_workers=_int(env, "SPOTLAKE_PRICE_WORKERS", 8),
        sps_workers=_int(env, "SPOTLAKE_SPS_WORKERS", 8),
        sps_quota_per_location=_int(env, "SPOTLAKE_SPS_QUOTA", 10),
        sps_quota_window_minutes=_int(env, "SPOTLAKE_SPS_QUOTA_WINDOW_MINUTES", 62),
        lease_ttl_seconds=_int(env, "SPOTLAKE_LEASE_TTL", _int(env, "SPOTLAKE_JOB_TIMEOUT", 540) + 30),
        job_timeout_seconds=_int(env, "SPOTLAKE_JOB_TIMEOUT", 540),
        fallback_max_age_hours=_fallback_hours(env),
        clock=clock,
        alert_owner=_alert_owner(env),
        retry=RetryConfig(
            max_attempts=_int(env, "SPOTLAKE_RETRY_MAX_ATTEMPTS", 5),
            base_delay=_seconds(env, "SPOTLAKE_RETRY_BASE_DELAY", 1.0),
            max_delay=_seconds(env, "SPOTLAKE_RETRY_MAX_DELAY", 30.0),
            max_retry_after=_seconds(env, "SPOTLAKE_RETRY_MAX_AFTER", 60.0),
        ),
    )


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "")
    if raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}={raw!r}: expected seconds") from exc
    if value < 0:
        raise ConfigError(f"{name}={raw!r}: must be >= 0")
    return value


def _alert_owner(env: Mapping[str, str]) -> str:
    owner = env.get("SPOTLAKE_ALERT_OWNER") or "self"
    if owner not in {"self", "orchestrator"}:
        raise ConfigError(f"SPOTLAKE_ALERT_OWNER={owner!r}: expected self or orchestrator")
    return owner


def _fallback_hours(env: Mapping[str, str]) -> int:
    """docs/contract.md 8 caps a price/IF fallback at 24 h old; a shorter limit is allowed, a longer one is refused."""
    hours = _int(env, "SPOTLAKE_FALLBACK_MAX_AGE_HOURS", 24)
    if hours > 24:
        raise ConfigError(
            f"SPOTLAKE_FALLBACK_MAX_AGE_HOURS={hours}: at most 24 (docs/contract.md 8: no data older than 24 h)"
        )
    return hours

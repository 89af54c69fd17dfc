"""Resource Graph ``SpotResources`` eviction rates (docs/azure-facts.md 3) and the IF dataset built from them
(docs/contract.md 6).

- ``fetch_eviction_rates``: the I/O — ``ResourceGraphClient.resources`` paged with ``$skipToken`` to the
  end (``utils.azure_api.paging.SkipTokenPaging``), the per-user quota headers respected, each page retried
  alone under the caller's policy.
- ``eviction_rates_frame``: the pure parser of the rows. The IF dataset built from them is
  ``utils.if_dataset``.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from utils.azure_api.paging import SkipTokenPaging, drain
from utils.azure_api.retry import RetryPolicy
from utils.errors import RetriableError
from utils.logs import Progress

log = logging.getLogger(__name__)

# docs/contract.md 6 / docs/azure-facts.md 8: the eviction-rate bucket of the trailing 28 days -> SpotLake's IF score.
EVICTION_BUCKET_TO_IF: dict[str, float] = {"0-5": 3.0, "5-10": 2.5, "10-15": 2.0, "15-20": 1.5, "20+": 1.0}

# Microsoft's sample query (docs/azure-facts.md 3.4) without the sku/location filters: every (sku, location). ``id`` is
# projected too: Resource Graph docs say a result without the ``id`` column can come back
# ``resultTruncated: true`` with no ``$skipToken`` (docs/azure-facts.md 3.2), which would end paging after one page.
EVICTION_RATE_QUERY = (
    "SpotResources"
    " | where type =~ 'microsoft.compute/skuspotevictionrate/location'"
    " | project id, skuName = tostring(sku.name), location = tostring(location),"
    " spotEvictionRate = tostring(properties.evictionRate)"
    " | order by skuName asc, location asc"
)
PAGE_SIZE = 1000  # $top maximum (docs/azure-facts.md 3.1)
QUOTA_REMAINING_HEADER = "x-ms-user-quota-remaining"
QUOTA_RESETS_HEADER = "x-ms-user-quota-resets-after"


def parse_resets_after(text: str | None) -> float | None:
    """``"00:00:05"`` (hh:mm:ss, docs/azure-facts.md 3.3) -> 5.0; None when absent or unreadable."""
    if not text:
        return None
    parts = text.strip().split(":")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        return None
    seconds = 0.0
    for number in numbers:
        seconds = seconds * 60 + number
    return max(0.0, seconds)


def fetch_eviction_rates(
    client: Any,
    *,
    retry_policy: RetryPolicy,
    progress_logger: logging.Logger | None = None,
    query: str = EVICTION_RATE_QUERY,
) -> list[dict[str, Any]]:
    """All rows of ``query`` (default: every eviction-rate row) through a ``ResourceGraphClient``.

    ``subscriptions`` is omitted: SpotResources returns no rows when it is given (docs/azure-facts.md 3.4). After each
    page, an exhausted per-user quota (``x-ms-user-quota-remaining: 0``) waits for
    ``x-ms-user-quota-resets-after`` (capped by the policy's ``max_retry_after``); a 429 is retried after its
    Retry-After.

    Raises:
        RunFailed: a page kept failing, the credential was refused, or paging was inconsistent.
    """
    from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

    paging = SkipTokenPaging()
    progress = Progress(progress_logger or log, "resource graph pages")

    def keep_headers(pipeline_response: Any, deserialized: Any, _headers: Any) -> tuple[Any, dict[str, str]]:
        return deserialized, dict(pipeline_response.http_response.headers)

    def on_retry(error: RetriableError, _retry: int, _delay: float) -> None:
        progress.count(retries=1, throttles=int(error.status == 429))

    def page(token: str | None, _describe: str) -> tuple[Any, dict[str, str]]:
        request = QueryRequest(
            query=query,
            options=QueryRequestOptions(top=PAGE_SIZE, skip_token=token, result_format="objectArray"),
        )
        return client.resources(request, cls=keep_headers)  # azure-core errors: mapped by ``fetch``

    rows_before = 0

    def after_page(headers: dict[str, str]) -> None:
        nonlocal rows_before
        page_rows, rows_before = len(paging.rows) - rows_before, len(paging.rows)
        progress.advance(1, rows=page_rows)
        if paging.total and paging.pages == 1 and page_rows:
            # The service's page size may be below the $top asked for: estimate pages from the first page.
            progress.total = max(1, -(-paging.total // page_rows))
        _respect_quota(headers, retry_policy, progress)

    drain(paging, page, retry_policy, what="Resource Graph", on_retry=on_retry, after_page=after_page)
    progress.finish()
    log.info("Resource Graph: %d eviction-rate rows in %d pages", len(paging.rows), paging.pages)
    return paging.rows


def _respect_quota(headers: dict[str, str], policy: RetryPolicy, progress: Progress) -> None:
    lowered = {k.lower(): v for k, v in headers.items()}
    remaining = lowered.get(QUOTA_REMAINING_HEADER)
    if remaining is None or not remaining.strip().isdigit() or int(remaining) > 0:
        return
    wait = min(parse_resets_after(lowered.get(QUOTA_RESETS_HEADER)) or 1.0, policy.max_retry_after)
    log.info("Resource Graph quota used up; waiting %.1fs for it to reset", wait)
    progress.count(throttles=1)
    policy.sleep(wait)


def eviction_rates_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Rows ``{"skuName": "standard_d2s_v4", "location": "eastus", "spotEvictionRate": "0-5"}`` ->
    ``SkuKey, RegionKey, IF`` (lower-case keys; a trailing "%" on the bucket is stripped; an unknown bucket
    gives IF NaN and is logged). One row per (SkuKey, RegionKey), the first one listed.
    """
    frame = pd.DataFrame.from_records(rows, columns=["skuName", "location", "spotEvictionRate"])
    bucket = frame["spotEvictionRate"].astype(object).where(frame["spotEvictionRate"].notna(), "").astype(str)
    bucket = bucket.str.strip().str.removesuffix("%").str.strip()
    score = bucket.map(EVICTION_BUCKET_TO_IF).astype(float)
    unknown = score.isna()
    if unknown.any():
        log.warning("eviction rates: %d rows with an unknown bucket (e.g. %s) get IF=NaN",
                    int(unknown.sum()), bucket[unknown].unique()[:3].tolist())
    result = pd.DataFrame({
        "SkuKey": frame["skuName"].astype(str).str.strip().str.lower(),
        "RegionKey": frame["location"].astype(str).str.strip().str.lower(),
        "IF": score.to_numpy(dtype=float),
    })
    return result.drop_duplicates(["SkuKey", "RegionKey"], keep="first").reset_index(drop=True)


def resource_graph_client(auth: Any, *, timeout: float) -> Any:
    """A ``ResourceGraphClient`` with the SDK's own retries off (``retry_total=0``): ours are in charge."""
    from azure.mgmt.resourcegraph import ResourceGraphClient

    return ResourceGraphClient(auth.credential, retry_total=0, connection_timeout=timeout, read_timeout=timeout,
                               **auth.arm_client_kwargs())

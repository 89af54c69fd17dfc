"""Resource Graph ``SpotResources`` eviction rates (docs/azure-facts.md 3) and the IF dataset built from them
(docs/contract.md 6).

- ``fetch_eviction_rates``: the I/O — ``ResourceGraphClient.resources`` paged with ``$skipToken`` to the
  end, the per-user quota headers respected, retries by ``utils.azure_api.http``.
- ``SkipTokenPaging``: the paging rules, no I/O.
- ``eviction_rates_frame`` and ``build_if_dataset``: pure parsers/joins over plain rows and frames.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from utils.azure_api.arm_names import split_arm_sku_name
from utils.azure_api.http import RetryPolicy, azure_call_error
from utils.constants import IF_COLUMNS
from utils.errors import RetriableError, RunFailed
from utils.logs import Progress
from utils.vm_specs import SPEC_COLUMNS

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
# The raw IF dataset: IF_COLUMNS and the VM specs of each size (utils.vm_specs) from its Resource SKUs record.
IF_DATASET_COLUMNS = [*IF_COLUMNS, *SPEC_COLUMNS]
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


@dataclass
class SkipTokenPaging:
    """``$skipToken`` paging of one Resource Graph query (docs/azure-facts.md 3.2). No I/O.

    ``accept(page)`` takes a response with ``total_records``, ``count``, ``result_truncated``,
    ``skip_token`` and ``data``; ``token`` is what to send next; ``done`` once a page has no token.

    Raises from ``accept``:
        RetriableError: the page contradicts itself (``count`` != rows) or is an empty page that still has a
            token (a gap): re-send the same request.
        RunFailed: a token repeats (the service would loop), the result is truncated (the query would lose
            rows), or the rows fetched differ from ``totalRecords`` at the end.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    token: str | None = None
    done: bool = False
    total: int | None = None
    pages: int = 0
    _seen: set[str] = field(default_factory=set)

    def accept(self, page: Any) -> None:
        data = page.data
        if not isinstance(data, list):
            raise RetriableError("Resource Graph page: data is not an object array")
        if page.count is not None and int(page.count) != len(data):
            raise RetriableError(f"Resource Graph page: count={page.count} but {len(data)} rows")
        next_token = page.skip_token or None
        if next_token is not None and not data:
            raise RetriableError("Resource Graph page: empty page with a $skipToken (gap)")
        if str(page.result_truncated).lower() == "true":
            raise RunFailed("Resource Graph: resultTruncated=true, the query would lose rows")
        if next_token is not None and next_token in self._seen:
            raise RunFailed("Resource Graph: a $skipToken repeated; refusing to loop")
        total = int(page.total_records) if page.total_records is not None else None
        if self.total is None:
            self.total = total
        self.rows.extend(data)
        self.pages += 1
        if next_token is None:
            self.done = True
            if self.total is not None and len(self.rows) != self.total:
                raise RunFailed(f"Resource Graph: fetched {len(self.rows)} rows, totalRecords={self.total}")
        else:
            self._seen.add(next_token)
        self.token = next_token


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

    while not paging.done:
        describe = f"Resource Graph page {paging.pages + 1}"
        request = QueryRequest(
            query=query,
            options=QueryRequestOptions(top=PAGE_SIZE, skip_token=paging.token, result_format="objectArray"),
        )

        def attempt(request: Any = request, describe: str = describe) -> dict[str, str]:
            try:
                page, headers = client.resources(request, cls=keep_headers)
            except Exception as exc:  # azure-core errors, mapped to retry / fail by the one status table
                raise azure_call_error(exc, describe) from None
            paging.accept(page)
            return headers

        rows_before = len(paging.rows)
        headers = retry_policy.call(attempt, describe=describe, on_retry=on_retry)
        page_rows = len(paging.rows) - rows_before
        progress.advance(1, rows=page_rows)
        if paging.total and paging.pages == 1 and page_rows:
            # The service's page size may be below the $top asked for: estimate pages from the first page.
            progress.total = max(1, -(-paging.total // page_rows))
        _respect_quota(headers, retry_policy, progress)
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


def build_if_dataset(skus: pd.DataFrame, rates: pd.DataFrame) -> pd.DataFrame:
    """The IF dataset (``IF_DATASET_COLUMNS``): one row per VM SKU and region, IF joined case-insensitively.

    Args:
        skus: ``utils.azure_api.skus.VM_SKU_COLUMNS`` (ARM casing in ``Name``; spec columns that are absent are
            published as missing).
        rates: ``eviction_rates_frame`` output (lower-case keys, as Resource Graph spells sku names).

    A size with a family but no eviction rate keeps IF NaN; an eviction rate for a (size, region) absent
    from the SKU list is dropped (no ARM casing, no family to publish). Sorted by (tier, type, region).
    """
    keyed = skus.assign(SkuKey=skus["Name"].str.lower(), RegionKey=skus["Region"].str.lower())
    if rates.empty:  # pandas cannot merge with empty Arrow-backed string keys; no rate means IF NaN
        merged = keyed.assign(IF=float("nan"))
    else:
        merged = keyed.merge(rates, on=["SkuKey", "RegionKey"], how="left", validate="many_to_one")
    tier, size = split_arm_sku_name(merged["Name"])
    frame = pd.DataFrame({
        "InstanceTier": tier.to_numpy(),
        "InstanceType": size.to_numpy(),
        "Region": merged["RegionKey"].to_numpy(),
        "IF": merged["IF"].to_numpy(dtype=float),
        "InstanceFamily": merged["Family"].to_numpy(),
        "Zones": merged["Zones"].to_numpy(),
    })
    for column in SPEC_COLUMNS:
        frame[column] = merged[column].to_numpy() if column in merged.columns else None
    frame = frame.astype({c: "float64" for c in SPEC_COLUMNS if c != "Architecture"})
    dropped = len(rates) - int(merged["IF"].notna().sum())
    if dropped > 0:
        log.info("IF: %d eviction-rate rows have no matching VM SKU and are not published", dropped)
    return frame.sort_values(["InstanceTier", "InstanceType", "Region"]).reset_index(drop=True)[IF_DATASET_COLUMNS]


def resource_graph_client(auth: Any, *, timeout: float) -> Any:
    """A ``ResourceGraphClient`` with the SDK's own retries off (``retry_total=0``): ours are in charge."""
    from azure.mgmt.resourcegraph import ResourceGraphClient

    return ResourceGraphClient(auth.credential, retry_total=0, connection_timeout=timeout, read_timeout=timeout,
                               **auth.arm_client_kwargs())


def collect_if(
    auth: Any,
    *,
    timeout: float,
    retry_policy: RetryPolicy | None = None,
    progress_logger: logging.Logger | None = None,
    list_skus: Callable[..., pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Eviction rates (Resource Graph) + VM SKUs of the first subscription -> the IF dataset.

    Raises:
        RunFailed: either source kept failing, or the credential was refused.
    """
    from utils.azure_api.skus import list_vm_skus

    policy = retry_policy or RetryPolicy()
    if not auth.subscription_ids:
        raise RunFailed("no Azure subscription id configured for the Resource SKUs listing")
    lister = list_skus or list_vm_skus

    def eviction_rates() -> pd.DataFrame:
        client = resource_graph_client(auth, timeout=timeout)
        try:
            return eviction_rates_frame(
                fetch_eviction_rates(client, retry_policy=policy, progress_logger=progress_logger)
            )
        finally:
            client.close()

    # The two sources are independent: fetch them at the same time (the run waits for the slower one
    # instead of the sum). Either failing fails the dataset; the other's result is discarded.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="if") as pool:
        rates_future = pool.submit(eviction_rates)
        skus_future = pool.submit(lister, auth, auth.subscription_ids[0], timeout=timeout, retry_policy=policy)
        rates = rates_future.result()
        skus = skus_future.result()
    frame = build_if_dataset(skus, rates)
    log.info("IF dataset: %d (size, region) rows, %d with an IF score", len(frame), int(frame["IF"].notna().sum()))
    return frame

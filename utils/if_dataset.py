"""The IF dataset (docs/contract.md 6): Resource Graph eviction rates + Compute Resource SKUs, joined.

``build_if_dataset`` is pure; ``collect_if`` fetches both sources at once (``utils.azure_api.resource_graph``,
``utils.azure_api.skus``) under the entry point's retry policy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pandas as pd

from utils.azure_api.arm_names import split_arm_sku_name
from utils.azure_api.resource_graph import eviction_rates_frame, fetch_eviction_rates, resource_graph_client
from utils.azure_api.retry import RetryPolicy
from utils.azure_api.skus import list_vm_skus
from utils.constants import IF_COLUMNS
from utils.errors import RunFailed
from utils.vm_specs import SPEC_COLUMNS

log = logging.getLogger(__name__)

# The raw IF dataset: IF_COLUMNS and the VM specs of each size (utils.vm_specs) from its Resource SKUs record.
IF_DATASET_COLUMNS = [*IF_COLUMNS, *SPEC_COLUMNS]


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


def collect_if(
    auth: Any,
    *,
    timeout: float,
    retry_policy: RetryPolicy,
    progress_logger: logging.Logger | None = None,
    list_skus: Callable[..., pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """Eviction rates (Resource Graph) + VM SKUs of the first subscription -> the IF dataset.

    ``retry_policy`` (the entry point's, from SPOTLAKE_RETRY_*) retries each page of either source.

    Raises:
        RunFailed: either source kept failing, or the credential was refused.
    """
    if not auth.subscription_ids:
        raise RunFailed("no Azure subscription id configured for the Resource SKUs listing")
    lister = list_skus or list_vm_skus

    def eviction_rates() -> pd.DataFrame:
        client = resource_graph_client(auth, timeout=timeout)
        try:
            return eviction_rates_frame(
                fetch_eviction_rates(client, retry_policy=retry_policy, progress_logger=progress_logger)
            )
        finally:
            client.close()

    # The two sources are independent: fetch them at the same time (the run waits for the slower one
    # instead of the sum). Either failing fails the dataset; the other's result is discarded.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="if") as pool:
        rates_future = pool.submit(eviction_rates)
        skus_future = pool.submit(lister, auth, auth.subscription_ids[0], timeout=timeout, retry_policy=retry_policy)
        rates = rates_future.result()
        skus = skus_future.result()
    frame = build_if_dataset(skus, rates)
    log.info("IF dataset: %d (size, region) rows, %d with an IF score", len(frame), int(frame["IF"].notna().sum()))
    return frame

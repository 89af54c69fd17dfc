"""Price collector: Azure Retail Prices -> the raw price dataset (docs/contract.md 6).

``price.price_dataset.collect_prices`` builds it (the SPS workload builder reuses it);
``python3 price/collect_price.py --timestamp T`` stores a slot's dataset."""

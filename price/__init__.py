"""Price collector: Azure Retail Prices -> the raw price dataset (docs/contract.md 6). ``collect_prices`` is the entry
the SPS workload builder reuses; ``python3 price/collect_price.py --timestamp T`` stores a slot's dataset."""

"""Merge and publish (docs/contract.md 5-8): join the slot's raw datasets, update T2/T3, detect changes
against the last observations, publish the outputs, and replace the latest state last.

Pure core: ``keys`` (row-key codes), ``join`` (the merged dataset of a slot), ``t2t3`` (threshold update),
``compare_data`` (change detection -> ``ChangeReport``), ``public`` (the public shape: SpotLake's naming and
formats, selector, association, metrics line), ``records`` (bytes of the published objects).
Thin shell: ``inputs`` (loading with fallback), ``state`` (state objects), ``upload_data`` (publishing),
``merge_data`` (the entry point).
"""

"""The Azure API clients, one module per API, and what they share (docs/architecture.md).

- ``auth``: the service-principal credential (environment, DynamoDB item or the emulator's) and bearer tokens.
- ``http``: the one status table, ``RetryPolicy`` and the one-attempt HTTP helpers every client uses.
- ``arm_names``: the one split of an ARM VM size name into tier and size.
- ``prices``: Azure Retail Prices (public, no auth): URL builder, page parser, ``$skip`` paging, fetch.
- ``resource_graph``: Resource Graph ``SpotResources`` eviction rates, ``$skipToken`` paging.
- ``skus``: Compute Resource SKUs, ``nextLink`` paging, the VM SKU frame.
- ``sps``: Spot Placement Scores: request builders, answer parsers, error classification.

Nothing here imports a collector (``price``, ``if``, ``sps``, ``sps_module``) or the merge. The package is not
named ``utils/azure``: ``utils/runtime.py`` runs by path with ``utils/`` first on ``sys.path``, where a package
named ``azure`` would hide the Azure SDK's ``azure`` namespace package.
"""

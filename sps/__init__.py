"""SPS collector entry points: ``collect_sps.py`` (one slot) and ``load_sps.py`` (core + ``plan`` CLI)."""

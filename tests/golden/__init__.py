"""The golden "outputs before and after" guard of a full run (see README.md here)."""

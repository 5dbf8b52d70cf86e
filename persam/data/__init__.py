"""Dataset readers and image / mask I/O."""

"""Experiments: the evaluation task, provenance, loggers, overlays and table builders."""

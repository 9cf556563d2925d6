"""Pipelines: options, config, the once and stream jobs, and the newsflow CLI."""

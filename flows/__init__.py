"""Prefect flows: they only wire the pipeline's steps together."""

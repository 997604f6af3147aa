"""Sagas at run time: tracing one saga through its state and events."""

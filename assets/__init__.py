"""The deep water example project, built on dataflow_governance's public API."""

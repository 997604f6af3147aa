"""The governance model: what a project declares — the fideslang taxonomy, each asset's facts
(spec), the manifest, configured conditions — validated, with no storage.
"""

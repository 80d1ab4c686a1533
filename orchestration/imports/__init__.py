"""Importing a privacy export: reading it (reading/), writing its rows, the import registry and its checks.

No Dagster here: orchestration/defs/imports/ maps an import onto an asset, orchestration/cli/imports.py
onto the `import` command, as orchestration/spotify/ pairs with orchestration/defs/spotify/.
"""

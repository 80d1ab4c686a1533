"""Export imports in Dagster: the raw-table asset (assets), the import_export job (jobs), the inbox sensor."""

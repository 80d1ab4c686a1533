"""Reading an export: its sources (ZIP, folder, JSON file), its formats, and the guarded streaming parser."""

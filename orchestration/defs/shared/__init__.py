"""What several domains of defs/ share: asset keys and a load run's check result (no domain is imported here)."""

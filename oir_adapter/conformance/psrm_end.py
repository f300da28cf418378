"""Cases of another role (being written)."""

"""Exports out and in: JSON and CSV files (json_csv), and where export files go and how they are written (paths)."""

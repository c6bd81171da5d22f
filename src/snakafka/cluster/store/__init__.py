"""cluster/store layer."""

"""server/handlers layer."""

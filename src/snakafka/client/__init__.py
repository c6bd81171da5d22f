"""A minimal asyncio Kafka client: what our CLI (and, later, follower fetchers) need."""

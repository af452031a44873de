"""Records shared by the store, the journal and both ports: episodes and webhook deliveries."""

"""OCI distribution-spec client: references, auth, retries, and the registry image store."""

"""Build and push the user's image with the Docker engine."""

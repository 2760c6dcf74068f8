"""Deployment of a whole network onto one generated chip (`aimcgen deploy`)."""

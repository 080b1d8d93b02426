"""Running Backwater as a user does: the headless main job, the UI, status. Uses the real daemon."""

"""Human review: campaigns of blind pairwise votes, rubric ratings and relabelling, served by a FastAPI app with
invite-link access, and the statistics that say how far to trust the votes."""

"""Human review: blind pairwise and rubric ratings, and the statistics that say how far to trust them."""

"""Feed rules after ranking: filters, spacing, diversity, freshness and popularity damping."""

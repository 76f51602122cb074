"""From figures to a decision: the figure table, limits, verdict and ranking, run comparison."""

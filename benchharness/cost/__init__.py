"""What running a model costs: machine detection, hardware profiles, cost formulas, the cost stage."""

"""Static passes over the graph IR: gradients (differentiability) and cost."""

"""Figures (matplotlib, Agg backend) and the HTML report."""

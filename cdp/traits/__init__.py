"""Computed traits per customer: RFM, order statistics, BG/NBD + Gamma-Gamma CLV, churn and lifecycle stage."""

"""Synthetic worlds with known ground truth: the Holi B2C world and the B2B accounts world.

They let every stage be tested and benchmarked at any scale without customer data, and let
model quality be measured against the true propensity and treatment effect.
"""

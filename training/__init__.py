"""Training: point-in-time training sets, models, metrics and the MLflow registry."""

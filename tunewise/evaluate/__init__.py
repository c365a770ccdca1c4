"""Evaluation: predictions (constrained label decoding, greedy generation) and metrics."""

from tunewise.evaluate.metrics import classification_metrics, generation_metrics
from tunewise.evaluate.predict import generate_answers, predict_labels

__all__ = ["classification_metrics", "generate_answers", "generation_metrics", "predict_labels"]

"""Evaluation: the evaluation stage of a run (stage.py), predictions (constrained label decoding, greedy generation),
metrics with intervals and paired tests, slices, the test-access log and the go/no-go verdict."""

from tunewise.evaluate.metrics import classification_metrics, generation_metrics
from tunewise.evaluate.predict import generate_answers, predict_labels

__all__ = ["classification_metrics", "generate_answers", "generation_metrics", "predict_labels"]

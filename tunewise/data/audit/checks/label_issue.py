"""Likely mislabeled rows (cleanlab confident learning on out-of-fold probabilities of a classifier over
sentence embeddings); for generation data, outputs that are outliers among all outputs."""

import numpy as np

from tunewise.data.audit.base import Check, Finding, register_check


@register_check
class LabelIssue(Check):
    name = "label_issue"
    description = "Rows whose label (or output) disagrees with what the rest of the data says it should be."
    severity = "warning"

    def summary(self, finding: Finding) -> str:
        d = finding.detail
        return f"{d['count']} likely wrong"

    def run(self, ctx):
        if ctx.task == "classification":
            return self._mislabeled(ctx)
        return self._outlier_outputs(ctx)

    def _mislabeled(self, ctx):
        from cleanlab.rank import get_label_quality_scores

        labels = [r["label"] for r in ctx.records]
        names = sorted(set(labels))
        y = np.array([names.index(label) for label in labels])
        counts = np.bincount(y, minlength=len(names))
        folds = min(ctx.settings.label_issue_folds, int(counts.max()))
        usable = np.flatnonzero(counts[y] >= folds)  # classes too small for cross-validation are left out
        if folds < 2 or len(set(y[usable])) < 2:
            return self.finding(ctx, [], {"skipped_reason": "fewer than two classes with enough rows"})
        classes = sorted(set(y[usable]))
        y_used = np.array([classes.index(v) for v in y[usable]])
        probabilities = _out_of_fold_probabilities(ctx, usable, y_used, folds)
        # cleanlab's normalized margin: (p[given] - max p[other] + 1) / 2; below 0.5 another label is preferred.
        quality = get_label_quality_scores(y_used, probabilities, method="normalized_margin")
        flagged = np.flatnonzero(quality <= (1 - ctx.settings.label_issue_margin) / 2)
        ranked = flagged[np.argsort(quality[flagged])]
        suggestions = []
        for position in ranked:
            index = int(usable[position])
            suggestions.append(
                {
                    "row": ctx.row_ids[index],
                    "text": ctx.inputs()[index][:200],
                    "label": labels[index],
                    "suggested_label": names[classes[int(probabilities[position].argmax())]],
                    "confidence": round(float(probabilities[position].max()), 3),
                    "quality": round(float(quality[position]), 3),
                }
            )
        detail = {
            "count": len(suggestions),
            "method": "cleanlab normalized-margin label quality on 5-fold out-of-fold probabilities "
            "(logistic regression on sentence embeddings and on character n-grams, averaged)",
            "suggestions": suggestions,
            "classes_left_out": [names[c] for c in range(len(names)) if 0 < counts[c] < folds],
        }
        return self.finding(ctx, [int(usable[p]) for p in ranked], detail)

    def _outlier_outputs(self, ctx):
        from sklearn.neighbors import LocalOutlierFactor

        if len(ctx.records) < 20:
            return self.finding(ctx, [], {"skipped_reason": "fewer than 20 rows"})
        vectors = ctx.shared("target_embeddings", lambda: ctx.embeddings(ctx.targets()))
        flags = LocalOutlierFactor(n_neighbors=min(20, len(vectors) - 1)).fit_predict(vectors)
        flagged = np.flatnonzero(flags == -1).tolist()
        detail = {
            "count": len(flagged),
            "method": "local outlier factor over output embeddings",
            "examples": [{"row": ctx.row_ids[i], "output": ctx.targets()[i][:200]} for i in flagged[:20]],
        }
        return self.finding(ctx, flagged, detail)


SURFACE_CHARS = 4096  # the surface view reads a row's start, as the embedding view (256 tokens) does: a 5 MB row's
# character n-grams took 49 s of a 78 s audit


def _out_of_fold_probabilities(ctx, usable: np.ndarray, y: np.ndarray, folds: int) -> np.ndarray:
    """Average of two views of the text: meaning (sentence embeddings) and surface form (character n-grams)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline

    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    semantic = cross_val_predict(
        LogisticRegression(max_iter=1000, C=10.0), ctx.input_embeddings()[usable], y, cv=cv, method="predict_proba"
    )
    surface_model = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
        LogisticRegression(max_iter=1000, C=20.0),
    )
    texts = [ctx.inputs()[i][:SURFACE_CHARS] for i in usable]
    surface = cross_val_predict(surface_model, texts, y, cv=cv, method="predict_proba")
    return (semantic + surface) / 2

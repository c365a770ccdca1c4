"""Likely mislabeled rows (cleanlab confident learning on out-of-fold probabilities of a classifier over
sentence embeddings); for generation data, outputs that are outliers among all outputs."""

import numpy as np

from tunewise.data.audit.base import Check, register_check


@register_check
class LabelIssue(Check):
    name = "label_issue"
    description = "Rows whose label (or output) disagrees with what the rest of the data says it should be."
    severity = "warning"

    def run(self, ctx):
        if ctx.task == "classification":
            return self._mislabeled(ctx)
        return self._outlier_outputs(ctx)

    def _mislabeled(self, ctx):
        from cleanlab.filter import find_label_issues
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        labels = [r["label"] for r in ctx.records]
        names = sorted(set(labels))
        y = np.array([names.index(label) for label in labels])
        counts = np.bincount(y, minlength=len(names))
        folds = min(ctx.settings.label_issue_folds, int(counts.max()))
        usable = np.flatnonzero(counts[y] >= folds)  # classes too small for cross-validation are left out
        if folds < 2 or len(set(y[usable])) < 2:
            return self.finding(ctx, [], {"skipped_reason": "fewer than two classes with enough rows"})
        x = ctx.input_embeddings()[usable]
        classes = sorted(set(y[usable]))
        y_used = np.array([classes.index(v) for v in y[usable]])
        probabilities = cross_val_predict(
            LogisticRegression(max_iter=1000, C=10.0),
            x,
            y_used,
            cv=StratifiedKFold(folds, shuffle=True, random_state=0),
            method="predict_proba",
        )
        # Confident learning proposes, and a clear preference for another label confirms: this keeps the
        # precision usable when the classifier is only moderately accurate.
        proposed = find_label_issues(y_used, probabilities, filter_by="both")
        given = probabilities[np.arange(len(y_used)), y_used]
        confirmed = proposed & (probabilities.max(axis=1) - given >= ctx.settings.label_issue_margin)
        ranked = np.flatnonzero(confirmed)[np.argsort(given[confirmed])]
        suggestions = []
        for position in ranked:
            index = int(usable[position])
            suggested = names[classes[int(probabilities[position].argmax())]]
            suggestions.append(
                {
                    "row": ctx.row_ids[index],
                    "text": ctx.inputs()[index][:200],
                    "label": labels[index],
                    "suggested_label": suggested,
                    "confidence": round(float(probabilities[position].max()), 3),
                }
            )
        detail = {
            "count": len(suggestions),
            "suggestions": suggestions,
            "classes_left_out": [names[c] for c in range(len(names)) if 0 < counts[c] < folds],
        }
        return self.finding(ctx, [int(usable[p]) for p in ranked], detail)

    def _outlier_outputs(self, ctx):
        from sklearn.neighbors import LocalOutlierFactor

        from tunewise.data.embed import embed

        if len(ctx.records) < 20:
            return self.finding(ctx, [], {"skipped_reason": "fewer than 20 rows"})
        vectors = ctx.shared("target_embeddings", lambda: embed(ctx.targets(), ctx.settings.embedding_batch_size))
        flags = LocalOutlierFactor(n_neighbors=min(20, len(vectors) - 1)).fit_predict(vectors)
        flagged = np.flatnonzero(flags == -1).tolist()
        detail = {
            "count": len(flagged),
            "method": "local outlier factor over output embeddings",
            "examples": [{"row": ctx.row_ids[i], "output": ctx.targets()[i][:200]} for i in flagged[:20]],
        }
        return self.finding(ctx, flagged, detail)

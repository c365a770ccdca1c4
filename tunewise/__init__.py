"""tunewise: audit → curate → leakage-free split → base-model selection → guarded fine-tuning → evaluation
with intervals and human review → a go/no-go report. Layers and layout: DEVELOPERS.md."""

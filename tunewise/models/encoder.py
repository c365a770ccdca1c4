"""A sentence encoder as a fine-tunable classifier: all-MiniLM-L6-v2's BERT body, the mean of its token states
(the pooling the sentence-transformers model was trained with), L2-normalised, and one linear layer to the
classes. Full fine-tuning; the head can start from a logistic regression fitted on the frozen embeddings
(linear probing then fine-tuning, Kumar et al. 2022), so training begins where the embedding baseline ends.

A transformers ``PreTrainedModel``, so Trainer, ``save_pretrained`` and ``from_pretrained`` work unchanged; the
body's weights load from the sentence-transformers folder (transformers adds the ``bert.`` prefix).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertModel, BertPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput


class MeanPoolingClassifier(BertPreTrainedModel):
    def __init__(self, config):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = BertModel(config, add_pooling_layer=False)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **_):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hidden = self.bert(
            input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).last_hidden_state
        logits = self.classifier(mean_pooled(hidden, attention_mask))
        loss = nn.functional.cross_entropy(logits.float(), labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)


def mean_pooled(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The unit-length mean of the token states that are not padding: the sentence embedding itself."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    summed = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    return nn.functional.normalize(summed, dim=-1)


def encoder_classifier(model_path: str, labels: list[str], dtype=torch.float32) -> MeanPoolingClassifier:
    """The encoder's body with a new head of len(labels) outputs, named by ``labels``."""
    from tunewise.models.loading import classifier_from_base

    return classifier_from_base(model_path, labels, dtype, MeanPoolingClassifier)


def set_head(model: MeanPoolingClassifier, weight, bias) -> None:
    """Start the head from a fitted linear model (e.g. logistic regression on the frozen embeddings)."""
    with torch.no_grad():
        model.classifier.weight.copy_(torch.as_tensor(weight, dtype=model.classifier.weight.dtype))
        model.classifier.bias.copy_(torch.as_tensor(bias, dtype=model.classifier.bias.dtype))

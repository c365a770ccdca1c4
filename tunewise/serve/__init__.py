"""`tunewise serve`: a finished run's fine-tuned model behind HTTP.

- ``model.py``: the run's model loaded once, answering a batch of requests of any kind in one call;
- ``batcher.py``: requests that arrive while the model is busy wait together and form the next batch;
- ``app.py``: FastAPI routes (OpenAI-style chat completions, classification, health), bearer token, size limits.
"""

"""The model contract every floor above it shares:

* :mod:`.names`: the registered model names and the metrics each is judged by, ``slugify``;
* :mod:`.tracking`: where the registry lives (the one reader of ``MLFLOW_TRACKING_URI``) and the
  explicit ``MlflowClient`` that talks to it;
* :mod:`.pyfunc`: the pyfunc classes the registered models are made of (the shipped files
  :mod:`.face_analytics_pyfunc` and :mod:`.face_analytics_age_gender`) and how they are logged;
* :mod:`.inputs`: the inputs a served model is handed (``select_inputs``);
* :mod:`.registry`: promote, roll back, clean, look versions up; :mod:`.fixed_sets` and
  :mod:`.gate`: the fixed evaluation sets, the noise rule and the promotion decision.

It sits on the ground floor just above ``face_pipeline`` (whose ``evaluation`` and ``calibrate``
hold LFW's protocol and the one accuracy threshold): it imports nothing of ``training``, ``api``,
``scripts`` or ``benchmarks`` (``tests/test_import_layers.py`` checks it). The one CLI,
``python -m model_registry COMMAND`` (:mod:`.cli`), is a door, not a floor: it trains and evaluates
on the trainer's data, so it stands with ``scripts`` and nothing here imports it."""

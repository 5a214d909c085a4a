"""``scripts.bootstrap_registry --baseline`` on an empty registry registers and promotes the
committed baseline models, and the API's RegistryModels serves them: age and gender on a real
face, recognition threshold, pair verification. A second bootstrap changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import lfw_image

pytestmark = pytest.mark.slow


def test_baselines_registered_promoted_and_served(tmp_path, monkeypatch, capsys, pipeline):
    from api.services.registry_models import RegistryModels
    from model_registry import registry as reg
    from model_registry.inputs import signature_inputs
    from model_registry.tracking import connect
    from scripts import bootstrap_registry

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("TRAINER_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    assert bootstrap_registry.main(["--baseline"]) == 0
    out = capsys.readouterr().out
    names = bootstrap_registry.baseline_names()
    assert {"age-gender", "face-recognition", "face-verifier"} <= set(names)
    client = connect()
    for name in names:
        assert reg.alias_version(client, name, "production") == "1", out
        version = reg.get_version(client, name, "1")
        assert reg.version_run(client, version).data.tags["baseline"] == "true"
        assert reg.version_metrics(client, version), f"{name}: the baseline's metrics are logged again"
    assert bootstrap_registry.main([]) == 0
    assert "nothing to bootstrap" in capsys.readouterr().out

    import sys

    for module in [m for m in sys.modules if m == "training" or m.startswith("training.")]:
        monkeypatch.delitem(sys.modules, module)  # serve as the API does: without the trainer's code
    served = RegistryModels(uri, tmp_path / "cache", refresh_seconds=0, embedder_version=pipeline.embedder.full_version,
                            attribute_embedder_version=pipeline.embedder.attribute_version)
    try:
        assert served.versions()["age_gender"] == "age-gender:1" and served.match_threshold() is not None
        faces = [pipeline.process(pipeline.load(lfw_image(name, 1)))[0] for name in ("Jennifer_Aniston", "Tony_Blair")]
        crops = np.stack([f.crop for f in faces])
        embeddings = np.stack([f.attribute_vector for f in faces])  # FaceNet's own, as the API hands it
        features = np.stack([f.features for f in faces])
        (age_a, gender_a, conf_a), (age_b, gender_b, conf_b) = served.predict_age_gender(crops, embeddings, features)
        assert gender_a == "female" and gender_b == "male" and 0.5 <= conf_a <= 1 and 0.5 <= conf_b <= 1
        assert 15 < age_a < 70 and 15 < age_b < 80
        if "features" in signature_inputs(served._models["age-gender"].model):  # the baseline's design reads them
            with pytest.raises(ValueError, match="features"):
                served.predict_age_gender(crops, embeddings)
        descriptors = np.stack([f.embedding for f in faces])  # the fused ones recognition models read
        score, threshold, label = served.verify_pair(descriptors[0], descriptors[1])
        assert label == "face-verifier:1" and score < threshold
        assert served.project(descriptors).shape == (2, pipeline.embedder.dim)
        assert served.far_table(), "the baseline recognition model carries its open-set FAR table"
    finally:
        served.close()

"""The Keras designs compared by the trainer. Every design has two outputs, ``age`` (years, the
expectation of a softmax over ages 0..116, DEX-style: smoother and better behaved than a single
regression unit) and ``gender`` (sigmoid, 1 = female), and named inputs drawn from
``embedding`` ((512,) FaceNet vector), ``features`` ((F,) FaceNet's pooled inner activations, see
``Embedder.embed_with_features``) and ``crop`` ((S,S,3) uint8 pixels, S = ``pixel_size``).

* ``embedding``: an MLP on the frozen FaceNet embedding (trains in seconds; no pixel augmentation
  is possible since the vectors are computed once, so Gaussian noise + dropout regularise instead).
* ``cnn``: a small CNN on the pixels with flip/shift/rotation/contrast augmentation.
* ``combined``: the CNN's features concatenated with the embedding MLP's.
* ``features``: an MLP on the embedding and FaceNet's inner features together. The embedding is
  trained to keep identity and drop the rest; the layers below it still carry what it drops
  (hair, skin, the shape of a child's face), and they come from the same forward pass.
* ``features_cnn``: ``features`` plus the small CNN.

A design can be trained as an ensemble of members that differ only by their seed
(:func:`ensemble`): their ages and probabilities are averaged. On the validation split five
``features`` members averaged gave 89.1 % gender accuracy where each alone gave 86.1-88.7 %
(``reports/age_gender_features.json``): each overfits 7,000 photos differently, and averaging
cancels much of it."""

from __future__ import annotations

import numpy as np

DESIGNS = ("embedding", "cnn", "combined", "features", "features_cnn")
AGE_BINS = 117
"""Ages 0..116, UTKFace's range."""
FEATURES_WIDTH = 256
"""First layer of the ``features`` branch (3,200 inputs): most of the design's weights. On the
validation split five-member ensembles scored 128: 88.7 %, 3.81 years; 256: 89.1 %, 3.74; 512: 89.0 %,
3.91 (gender accuracy, age MAE; ``benchmarks.age_gender_features``): the same within noise, so the
middle one at half the size of 512."""
AGE_LOSS_WEIGHT = 0.1
"""Age MAE is in years (~5-10), gender BCE ~0.3: the weight puts both on the same scale."""


def design_inputs(design: str) -> tuple[str, ...]:
    return {"embedding": ("embedding",), "cnn": ("crop",), "combined": ("embedding", "crop"),
            "features": ("embedding", "features"), "features_cnn": ("embedding", "features", "crop")}[design]


def _heads(keras, features, width: int):
    layers = keras.layers
    shared = layers.Dense(width, activation="relu", name="shared")(features)
    shared = layers.Dropout(0.3)(shared)
    age_probs = layers.Dense(AGE_BINS, activation="softmax", name="age_probs")(shared)
    expectation = layers.Dense(1, use_bias=False, trainable=False, name="age",
                               kernel_initializer=keras.initializers.Constant(
                                   np.arange(AGE_BINS, dtype=np.float32).reshape(-1, 1)))
    age = expectation(age_probs)
    gender = layers.Dense(1, activation="sigmoid", name="gender")(shared)
    return age, gender


def _embedding_branch(keras, inp):
    layers = keras.layers
    x = layers.GaussianNoise(0.02)(inp)
    x = layers.Dense(512, activation="relu")(x)
    x = layers.Dropout(0.4)(x)
    x = layers.Dense(256, activation="relu")(x)
    return x


def _features_branch(keras, embedding, features, stats: tuple[np.ndarray, np.ndarray]):
    """Standardised (training mean and variance, kept in the model) so every unit starts on the same scale."""
    layers = keras.layers
    mean, variance = stats
    x = layers.Concatenate()([embedding, features])
    x = layers.Normalization(mean=mean, variance=variance, name="standardise")(x)
    x = layers.GaussianNoise(0.1)(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Dense(FEATURES_WIDTH, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    x = layers.Dense(256, activation="relu")(x)
    return x


def _cnn_branch(keras, inp, pixel_size: int):
    layers = keras.layers
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0)(inp)
    x = layers.RandomFlip("horizontal")(x)
    x = layers.RandomTranslation(0.06, 0.06, fill_mode="nearest")(x)
    x = layers.RandomRotation(0.04, fill_mode="nearest")(x)
    x = layers.RandomContrast(0.2)(x)
    # One conv per scale: about 50 MFLOPs per 64x64 face, so an epoch over ~7,000 faces takes
    # well under a minute on two CPU cores (two convs per scale was ~5x slower for little gain).
    for filters in (32, 64, 128, 128):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)
    x = layers.GlobalAveragePooling2D()(x)
    return layers.Dropout(0.3)(x)


def feature_stats(embeddings: np.ndarray, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of ``[embedding, features]`` on the training photos, for :func:`build`."""
    joined = np.hstack([embeddings, features]).astype(np.float64)
    return joined.mean(axis=0).astype(np.float32), (joined.var(axis=0) + 1e-6).astype(np.float32)


def build(design: str, pixel_size: int = 64, learning_rate: float = 1e-3, feature_dim: int = 0,
          stats: tuple[np.ndarray, np.ndarray] | None = None):
    """A compiled Keras model for ``design``; the feature designs need ``feature_dim`` and the
    training ``stats`` (:func:`feature_stats`)."""
    import keras

    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r} (choose from {', '.join(DESIGNS)})")
    wanted = design_inputs(design)
    inputs, features = {}, []
    if "features" in wanted:
        if not feature_dim or stats is None:
            raise ValueError(f"design {design!r} needs the embedder's features (feature_dim and stats)")
        inputs["embedding"] = keras.Input((512,), name="embedding")
        inputs["features"] = keras.Input((feature_dim,), name="features")
        features.append(_features_branch(keras, inputs["embedding"], inputs["features"], stats))
    elif "embedding" in wanted:
        inputs["embedding"] = keras.Input((512,), name="embedding")
        features.append(_embedding_branch(keras, inputs["embedding"]))
    if "crop" in wanted:
        inputs["crop"] = keras.Input((pixel_size, pixel_size, 3), name="crop")
        features.append(_cnn_branch(keras, inputs["crop"], pixel_size))
    merged = features[0] if len(features) == 1 else keras.layers.Concatenate()(features)
    age, gender = _heads(keras, merged, 128)
    model = keras.Model(inputs=inputs, outputs={"age": age, "gender": gender}, name=f"age_gender_{design}")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss={"age": keras.losses.MeanAbsoluteError(), "gender": keras.losses.BinaryCrossentropy()},
        loss_weights={"age": AGE_LOSS_WEIGHT, "gender": 1.0},
        metrics={"age": [keras.metrics.MeanAbsoluteError(name="mae")],
                 "gender": [keras.metrics.BinaryAccuracy(name="acc")]},
    )
    return model


def ensemble(members: list, design: str):
    """One Keras model that averages the members' ``age`` and ``gender`` outputs: one file to
    save and serve, the same named inputs and outputs as a single member. One member is returned
    as it is."""
    import keras

    if len(members) == 1:
        return members[0]
    inputs = {name: keras.Input(tuple(members[0].input[name].shape[1:]), name=name) for name in design_inputs(design)}
    outputs = []
    for i, member in enumerate(members):
        # an uncompiled copy: a compiled member would be saved with its optimizer's state (3x the weights)
        copy = keras.Model.from_config(member.get_config())
        copy.set_weights(member.get_weights())
        copy.name = f"member_{i}"
        outputs.append(copy(inputs))
    age = keras.layers.Average(name="age")([out["age"] for out in outputs])
    gender = keras.layers.Average(name="gender")([out["gender"] for out in outputs])
    return keras.Model(inputs=inputs, outputs={"age": age, "gender": gender},
                       name=f"age_gender_{design}_x{len(members)}")

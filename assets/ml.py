"""Machine learning: the audited ticket training set and the ticket classifier trained on it."""

from __future__ import annotations

import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from dataflow_governance.dagster_ext import model_asset, training_dataset

from .registration import users
from .sql_stage import SQL_DIR
from .support import ticket_features

# Rows only of customers whose consent covers the classifier's purpose, none with an erasure
# pending or done; ordered by ticket so the same rows always give the same digest.
ticket_training_set = training_dataset(
    "ticket_training_set", path=SQL_DIR / "ticket_training_set.sql", order_by=["ticket_id"],
    group_name="ml", deps=[users],
)

CLASSIFIER_PARAMS = {"seed": 7, "n_estimators": 50, "max_features": 2000, "test_size": 0.25}


def train_ticket_classifier(frame: pd.DataFrame, params: dict) -> tuple[Pipeline, dict[str, float]]:
    """TF-IDF over the redacted text, then a random forest; fixed seeds, so retraining is exact."""
    train, test = train_test_split(frame, test_size=params["test_size"], random_state=params["seed"],
                                   stratify=frame["label"])
    model = Pipeline([
        ("tfidf", TfidfVectorizer(max_features=params["max_features"], ngram_range=(1, 2))),
        ("forest", RandomForestClassifier(n_estimators=params["n_estimators"], random_state=params["seed"], n_jobs=1)),
    ])
    model.fit(train["text"], train["label"])
    predicted = model.predict(test["text"])
    return model, {
        "accuracy": float(accuracy_score(test["label"], predicted)),
        "f1_macro": float(f1_score(test["label"], predicted, average="macro")),
        "train_rows": float(len(train)),
        "test_rows": float(len(test)),
    }


ticket_classifier = model_asset(
    "ticket_classifier", dataset=ticket_training_set, trainer=train_ticket_classifier, params=CLASSIFIER_PARAMS,
    features="text", target="label", group_name="ml",
)

"""Names, postal addresses and dates of birth in free text: found in context, decoys left alone,
evidence masked, and hostile text (huge, binary, other scripts, markup) scanned within bounds."""

import os
import subprocess
import sys
import time

import pytest

from dataflow_governance.detection import freetext
from dataflow_governance.detection.detectors import BY_NAME, DETECTORS, allowing, detect_value, matches
from dataflow_governance.detection.scan import scan_values

SENTENCE = "Please call Maria Gonzalez at her flat, 14 Rue des Lilas, 75011 Paris, born 3 May 1987"


def test_the_sentence_the_pattern_detectors_were_blind_to():
    found = detect_value(SENTENCE)
    assert found == {"person_name": ["Maria Gonzalez"], "postal_address": ["14 Rue des Lilas, 75011 Paris"],
                     "date_of_birth": ["3 May 1987"]}


@pytest.mark.parametrize("address", [
    "Ship it to 1600 Pennsylvania Avenue NW, Washington, DC 20500 please",  # US
    "My flat is 221B Baker Street, London NW1 6XE",  # UK
    "Lieferung an Hauptstraße 12 10115 Berlin",  # DE, no comma
    "Neue Adresse: Am Weiher 3a, 80331 München",  # DE, "Am …"
    "Bitte an Berliner Straße 5 liefern",  # DE, the street word apart
    "Livraison au 3 bis avenue Jean Jaurès 69007 Lyon",  # FR
])
def test_addresses_of_each_country(address):
    assert "postal_address" in detect_value(address)


@pytest.mark.parametrize("decoy", [
    "The Acme Turbo 3000 stopped working after two days.",  # a product
    "Your courier Müller Logistik GmbH lost the parcel.",  # a company
    "Globex Inc and Hooli Ltd both shipped late.",
    "The parcel is stuck in our Berlin depot since Monday.",  # a city as a place
    "Is the Baker Street store open on Sundays?",  # a street as a topic
    "There are roadworks on Hauptstraße, delivery was late.",
    "I ordered on 3 May 2024 and it arrived on 12.05.2024.",  # dates that are not birth dates
    "Invoice 447291 dated 1987-05-03 is wrong.",
    "Version 4.15 of the Android app crashes on login.",
])
def test_decoys_are_not_personal(decoy):
    found = detect_value(decoy)
    assert not {"person_name", "postal_address", "date_of_birth"} & set(found), found


def test_a_birth_date_needs_birth_context_in_its_own_clause():
    assert "date_of_birth" in detect_value("Patient (DOB 02/02/1950) asks for a ground-floor delivery")
    assert "date_of_birth" not in detect_value("My birthday party is planned. We ordered on 02/02/2020.")
    assert "date_of_birth" not in detect_value("born on 31.02.1987")  # not a calendar date


def test_a_house_number_beside_a_postcode_is_not_a_phone_number():
    text = "Send it to 4521 Oak Avenue, Austin, TX 78701-2345"
    assert "78701-2345" not in list(matches(BY_NAME["phone"], text))
    assert detect_value(text) == {"postal_address": ["4521 Oak Avenue, Austin, TX 78701-2345"]}
    assert list(matches(BY_NAME["phone"], "Call me on +1 512 555 0199")) == ["+1 512 555 0199"]  # a real one still is


def test_the_allow_list_passes_over_what_an_asset_names():
    detectors = allowing(DETECTORS, ["maria gonzalez", "support@deepwater.example"])
    found = detect_value("Maria Gonzalez wrote to support@deepwater.example; Dear Peter Smith, thanks", detectors)
    assert found == {"person_name": ["Peter Smith"]}


def test_evidence_is_masked():
    report = scan_values([SENTENCE])
    shown = " ".join(e for examples in report.examples.values() for e in examples)
    assert "M**** G*******" in shown
    for secret in ("Maria", "Gonzalez", "Lilas", "75011", "1987"):
        assert secret not in shown


@pytest.mark.parametrize("hostile", [
    "x" * 1_000_000,  # a 1 MB field
    "Maria Gonzalez " * 70_000,  # 1 MB of names
    "Peter Smith " * 90_000,  # capitalized words without end (a street pattern once went quadratic on them)
    bytes(range(256)).decode("latin-1") * 4000,  # binary junk
    "Мария Гонсалес, ул. Ленина 14, родилась 3 мая 1987 " * 100,  # another script
    "<div onclick='x'>Call <b>Maria Gonzalez</b></div>" * 2000,  # HTML
    '{"name": "Maria Gonzalez", "note": "born 1987-05-03"}' * 2000,  # JSON in text
    "1" * 500_000 + " " + "2 " * 200_000,  # digit runs that backtrack a naive pattern
])
def test_hostile_fields_are_scanned_within_a_bound(hostile):
    started = time.perf_counter()
    report = scan_values([hostile])
    assert time.perf_counter() - started < 10
    assert report.cut_short == (1 if len(hostile) > freetext.MAX_TEXT_CHARS else 0)


def test_without_a_model_the_scan_says_names_were_not_searched(tmp_path):
    """No model installed (a name that is not one stands in for it): the report names the detector
    it could not run, and the other detectors still ran."""
    text = tmp_path / "notes.txt"
    text.write_text(SENTENCE + "\nreach me at anna@example.com\n")
    env = {**os.environ, "DFG_NLP_MODEL": "no_such_model_installed"}
    out = subprocess.run([sys.executable, "-m", "dataflow_governance.cli", "scan", "--file", str(text)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "NOT SEARCHED for person_name: no named-entity model installed" in out.stdout
    assert "email 1 rows" in out.stdout and "postal_address 1 rows" in out.stdout


def test_the_gx_expectation_finds_names_in_free_text():
    import pandas as pd

    from dataflow_governance.detection.expectations import validate_dataframe

    frame = pd.DataFrame({"note": [SENTENCE, "The Acme Turbo 3000 broke", "Dear Ms Okafor, thanks"]})
    counts = validate_dataframe(frame, detectors=("person_name", "postal_address", "date_of_birth"))
    assert counts == {"note": {"person_name": 2, "postal_address": 1, "date_of_birth": 1}}


@pytest.mark.parametrize("text", ["Herr Maier, geb. 03.05.1987", "D.O.B. 3 May 1987", "dob=1987-05-03",
                                  "née le 3 mai 1987", "Geburtsdatum: 3. März 1987"])
def test_birth_keywords_in_three_languages_and_abbreviated(text):
    assert "date_of_birth" in detect_value(text)

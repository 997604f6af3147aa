"""Detectors: true values in several locales, the decoys, free text, and masks that hide."""

import pytest

from dataflow_governance.detect import BY_NAME, DETECTOR_NAMES, detect_value

TRUE_VALUES = {
    "email": ["anna.muller@example.com", "j.doe+news@mail.example.org", "élodie@exemple.fr".replace("é", "e"),
              "ops_team@sub.domain.co.uk"],
    "phone": ["+49 30 12345678", "(415) 555-2671", "+44 20 7946 0958", "+33 1 42 68 53 00", "030 1234567",
              "+1-212-555-0123", "06 12 34 56 78", "+31 20 123 4567"],
    "ssn": ["123-45-6789", "078-05-1120", "219 09 9999"],
    "credit_card": ["4242 4242 4242 4242", "5555-5555-5555-4444", "378282246310005", "6011111111111117",
                    "3530111333300000", "2223003122003222"],
    "ip_address": ["192.168.1.20", "8.8.8.8", "2001:db8::ff00:42:8329", "fe80::1ff:fe23:4567:890a"],
    "iban": ["DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "FR1420041010050500013M02606",
             "NL91ABNA0417164300"],
}
DECOYS = [
    "1234567812345678",                      # 16-digit order number failing Luhn
    "550e8400-e29b-41d4-a716-446655440000",  # UUID
    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",  # SHA-256 hex
    "version 2.13.7", "release v10.4.12",    # version strings
    "SKU-12345-678", "ORD-2026-000123",      # SKUs and order ids
    "EUR 1234.56", "1,234,567.89", "4242.4242424242424242",  # amounts
    "2026-11-01", "01/11/2026", "12:30:45",  # dates and times
    "000-12-3456", "666-12-3456", "912-12-3456", "123-00-4567",  # invalid SSNs
    "DE89370400440532013001",                # IBAN with a bad check digit
    "user@localhost", "not an @ sign",       # not addresses
]


@pytest.mark.parametrize("detector", DETECTOR_NAMES)
def test_true_values_are_found(detector):
    for value in TRUE_VALUES[detector]:
        assert detector in detect_value(value), value


@pytest.mark.parametrize("decoy", DECOYS)
def test_decoys_are_not_findings(decoy):
    assert detect_value(decoy) == {}


def test_free_text():
    note = ("Customer wrote: please refund to DE89 3704 0044 0532 0130 00, reach me at anna.muller@example.com "
            "or +49 30 12345678; my old card 4242 4242 4242 4242 was stolen. Order ORD-2026-000123.")
    assert set(detect_value(note)) == {"iban", "email", "phone", "credit_card"}


@pytest.mark.parametrize("detector", DETECTOR_NAMES)
def test_masks_hide_the_value(detector):
    for value in TRUE_VALUES[detector]:
        masked = BY_NAME[detector].mask(value)
        assert masked != value and value not in masked and len(set(masked) - set("*.-@:")) <= 8
    assert BY_NAME["email"].mask("john@example.com") == "j***@e***.com"
    assert BY_NAME["credit_card"].mask("4242 4242 4242 4242") == "****4242"

"""Deterministic synthetic data for the deep water example: seeded, realistic, small."""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta

AS_OF = datetime(2026, 11, 1)  # fixed, so every run generates the same rows
SEED = 20260101
N_USERS = 500

FIRST = ["anna", "ben", "chloe", "david", "elena", "felix", "greta", "hugo", "ines", "jonas", "klara", "lukas",
         "marie", "niko", "olga", "paul", "rosa", "sven", "tina", "uwe", "vera", "wim", "yara", "zoe"]
LAST = ["muller", "schmidt", "dubois", "rossi", "garcia", "novak", "jensen", "kowalski", "silva", "berg",
        "lindqvist", "moreau", "bianchi", "fischer", "weber", "wagner"]
DOMAINS = ["example.com", "mail.example.org", "posteo.example", "inbox.example.net"]
COUNTRIES = ["DE", "FR", "NL", "ES", "IT", "PL", "SE", "AT", "IE", "PT"]
EVENTS = ["page_view", "search", "add_to_cart", "checkout", "login", "logout"]
BRANDS = ["visa", "mastercard", "amex"]
TICKET_TOPICS = {
    "billing": ["I was charged twice for order {order}", "Refund for order {order} has not arrived"],
    "delivery": ["Parcel for order {order} is late", "Wrong item delivered in order {order}"],
    "account": ["Cannot log in since yesterday", "Please change my email address"],
}


def rng(name: str) -> random.Random:
    """One independent, seeded stream per dataset, so adding one never shifts another."""
    return random.Random(f"{SEED}:{name}")


def registrations() -> list[dict]:
    r, profile = rng("registrations"), rng("profiles")
    rows = []
    for user_id in range(1, N_USERS + 1):
        first, last = r.choice(FIRST), r.choice(LAST)
        created = AS_OF - timedelta(days=r.randint(0, 3 * 365), seconds=r.randint(0, 86399))
        born = datetime(1940, 1, 1) + timedelta(days=profile.randint(0, 66 * 365))
        rows.append({
            "user_id": user_id,
            "full_name": f"{first.title()} {last.title()}",
            "birth_date": born.date().isoformat(),
            "postal_code": f"{profile.randint(10000, 99999)}",
            "email": f"{first}.{last}{user_id}@{r.choice(DOMAINS)}",
            "password": f"pw-{r.getrandbits(48):x}",
            "country": r.choice(COUNTRIES),
            "ip": f"{r.randint(11, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
            "analytics_consent": r.random() < 0.7,
            "marketing_consent": r.random() < 0.4,
            "created_at": created.isoformat(timespec="seconds"),
        })
    return rows


def password_hash(password: str, user_id: int) -> str:
    # A slow salted KDF, as a real sign-up service stores passwords; iterations kept low for the demo.
    salt = f"deepwater-{user_id}".encode()
    return "pbkdf2_sha256$1000$" + hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 1000).hex()


def events(user_ids: list[int]) -> list[dict]:
    r = rng("events")
    rows = []
    for user_id in user_ids:
        for _ in range(r.randint(3, 15)):
            rows.append({"user_id": user_id, "event_type": r.choice(EVENTS),
                         "occurred_at": AS_OF - timedelta(days=r.randint(0, 500), seconds=r.randint(0, 86399))})
    return rows


def orders(user_ids: list[int]) -> list[dict]:
    r = rng("orders")
    rows, order_id = [], 100000
    for user_id in user_ids:
        for _ in range(r.randint(0, 6)):
            order_id += 1
            rows.append({
                "order_id": order_id, "user_id": user_id, "amount": round(r.uniform(5, 400), 2), "currency": "EUR",
                "charge_id": f"ch_{r.getrandbits(64):016x}", "card_last4": f"{r.randint(0, 9999):04d}",
                "card_brand": r.choice(BRANDS),
                "ordered_at": AS_OF - timedelta(days=r.randint(0, 8 * 365), seconds=r.randint(0, 86399)),
            })
    return rows


def card_number(r: random.Random) -> str:
    """A made-up 16-digit Visa-range number that passes the Luhn check, as a real card number does."""
    body = "4" + "".join(str(r.randint(0, 9)) for _ in range(14))
    total = 0
    for i, digit in enumerate(int(d) for d in reversed(body)):
        doubled = digit * 2 if i % 2 == 0 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return body + str((10 - total % 10) % 10)


def card_captures(user_ids: list[int]) -> list[dict]:
    """Card details captured at checkout, before the payment processor authorizes them."""
    r = rng("card_captures")
    rows, capture_id = [], 700000
    for user_id in user_ids:
        if r.random() > 0.3:
            continue
        capture_id += 1
        rows.append({"capture_id": capture_id, "user_id": user_id, "pan": card_number(r),
                     "expiry": f"{r.randint(1, 12):02d}/{r.randint(27, 31)}", "amount": round(r.uniform(5, 400), 2),
                     "captured_at": AS_OF - timedelta(days=r.randint(0, 60), seconds=r.randint(0, 86399))})
    return rows


HEALTH_NOTES = ["allergic to latex: deliver without latex packaging", "wheelchair user: needs ground-floor delivery",
                "diabetic: asks for the sugar-free replacement", "recovering from surgery: cannot lift parcels"]


def health_notes(ticket_rows: list[dict]) -> list[dict]:
    """Health details customers give in some delivery tickets, kept as a separate note for the care partner;
    the agent often notes who the patient is."""
    r, who = rng("health_notes"), rng("health_note_patients")
    notes = [{"ticket_id": t["ticket_id"], "user_id": t["user_id"], "note": r.choice(HEALTH_NOTES),
              "created_at": t["created_at"], "patient": t} for t in ticket_rows if r.random() < 0.15]
    for note in notes:
        patient = note.pop("patient")
        if who.random() < 0.4:
            born = datetime.fromisoformat(str(patient["birth_date"]))
            note["note"] += f" (patient {patient['full_name']}, born {born.day} {born:%B %Y})"
    return notes


def tickets(users: list[dict], order_ids_by_user: dict[int, list[int]]) -> list[dict]:
    r, mention = rng("tickets"), rng("ticket_mentions")
    rows, ticket_id = [], 5000
    for user in users:
        if r.random() > 0.5:
            continue
        for _ in range(r.randint(1, 2)):
            ticket_id += 1
            topic = r.choice(sorted(TICKET_TOPICS))
            order = r.choice(order_ids_by_user.get(user["user_id"]) or [0])
            text = r.choice(TICKET_TOPICS[topic]).format(order=order)
            # Customers paste contact details into free text; the cleaning stage must remove them.
            if r.random() < 0.3:
                text += f". You can reach me at {user['email']}"
            if r.random() < 0.2:
                text += f" or call +49 30 {r.randint(1000000, 9999999)}"
            # …and other people: a neighbour who took the parcel, by name and email, in someone else's ticket.
            if mention.random() < 0.1:
                other = mention.choice(users)
                if other["user_id"] != user["user_id"]:
                    text += f". My neighbour {other['full_name']} ({other['email']}) took the parcel in"
            if mention.random() < 0.05:
                text += f". Regards, {user['full_name']}"
            rows.append({
                "ticket_id": ticket_id, "user_id": user["user_id"], "email": user["email"],
                "subject": f"{topic} question", "body": text, "topic": topic,
                "created_at": AS_OF - timedelta(days=r.randint(0, 900), seconds=r.randint(0, 86399)),
            })
    return rows


def app_log_lines(day: int) -> list[dict]:
    r = rng(f"logs:{day}")
    paths = ["/api/cart", "/api/search", "/api/orders", "/health", "/api/login"]
    return [
        {"ts": (AS_OF - timedelta(days=day, seconds=r.randint(0, 86399))).isoformat(timespec="seconds"),
         "level": r.choice(["INFO", "INFO", "INFO", "WARN"]), "path": r.choice(paths),
         "status": r.choice([200, 200, 200, 201, 404, 500]), "latency_ms": r.randint(3, 900),
         "request_id": f"{r.getrandbits(64):016x}"}
        for _ in range(200)
    ]


def workspaces() -> list[dict]:
    """The B2B side's tenants: one pinned to the EU, one to the US."""
    return [{"workspace_id": 1, "name": "Acme GmbH", "region": "eu-central-1"},
            {"workspace_id": 2, "name": "Globex Inc", "region": "us-east-1"}]


def eu_workspaces() -> list[int]:
    """The tenants pinned to the EU: their data stays in the EU warehouse."""
    return [w["workspace_id"] for w in workspaces() if w["region"].startswith("eu-")]


def workspace_tickets(workspace_id: int) -> list[dict]:
    """A tenant's support tickets (kept in the tenant's own schema): no personal data."""
    r = rng(f"tickets:{workspace_id}")
    return [{"ticket_id": workspace_id * 100 + i, "workspace_id": workspace_id,
             "status": r.choice(("open", "pending", "closed")), "priority": r.randrange(1, 4)} for i in range(1, 11)]


def workspace_invoices(workspace_id: int) -> list[dict]:
    """A tenant's quarterly invoices of the last two years (a legal hold keeps the recent ones)."""
    r = rng(f"invoices:{workspace_id}")
    return [{"invoice_id": workspace_id * 100 + i, "workspace_id": workspace_id, "amount": r.randrange(500, 9000),
             "billing_email": f"billing{workspace_id}@example.com", "issued_at": AS_OF - timedelta(days=90 * i)}
            for i in range(8)]


def workspace_documents(workspace_id: int) -> list[dict]:
    """A tenant's documents: business content, no personal data."""
    r = rng(f"documents:{workspace_id}")
    topics = ("quarterly plan", "supplier contract", "pricing sheet", "roadmap", "onboarding guide")
    return [{"doc_id": workspace_id * 1000 + i, "workspace_id": workspace_id,
             "title": f"{r.choice(topics)} {i}", "words": r.randrange(200, 5000)} for i in range(1, 41)]

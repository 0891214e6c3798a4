"""The documents: CRM profiles as JSON lines, and survey answers, drawn from each customer's traits."""

from __future__ import annotations

import unicodedata
from datetime import timedelta

import numpy as np
import orjson

from connectors.catalog import NEEDS, PRODUCTS, SURVEY_DAYS
from connectors.sample.featured import FEATURED_CALLER
from connectors.sample.pools import Pools
from connectors.sample.traits import EPOCH, People, iso_dates
from connectors.sample.vocabulary import COMMENT_PHRASES, OPTIONAL_FIELDS, PRODUCT_MENTIONS, SENTIMENTS


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _phones(rng: np.random.Generator, n: int) -> list[str]:
    area = rng.integers(201, 990, n)
    mid = rng.integers(200, 999, n)
    end = rng.integers(0, 10000, n)
    return [f"{a}-{b}-{c:04d}" for a, b, c in zip(area, mid, end, strict=True)]


def profile_lines(
    rng: np.random.Generator,
    pools: Pools,
    people: People,
    birth_day: np.ndarray,
    first_visit_day: np.ndarray,
    web_user_id: np.ndarray,
    photo_count: int,
) -> bytes:
    """CRM documents as JSON lines: nested address, optional fields that come and go, missing contacts."""
    n, ids, first, last, gender = len(people), people.ids, people.first, people.last, people.gender
    web, segment = people.web, people.segment
    folded = {name: _ascii(name) for name in set(first) | set(last)}
    domains = np.array(["example.com", "example.org", "example.net", "mail.example"], dtype=object)
    email_num = rng.integers(1, 1000, n)
    email_dom = domains[rng.integers(0, len(domains), n)]
    has_email = rng.random(n) > 0.03
    has_phone = rng.random(n) > 0.01
    phones = _phones(rng, n)
    ssn_area = rng.integers(1, 900, n)
    ssn_area = np.where(ssn_area == 666, 667, ssn_area)
    ssn_group = rng.integers(1, 100, n)
    ssn_serial = rng.integers(1, 10000, n)
    place = pools.places.draw(rng, n)
    FEATURED_CALLER.settle(place, ids, pools.places)
    street = pools.streets[rng.integers(0, len(pools.streets), n)]
    number = rng.integers(1, 9999, n)
    birth = iso_dates(birth_day)
    visit = iso_dates(first_visit_day)
    optional = rng.random((n, len(OPTIONAL_FIELDS)))
    middle = pools.middle[rng.integers(0, len(pools.middle), n)]
    employer = pools.employers[rng.integers(0, len(pools.employers), n)]
    contact = np.array(["email", "phone", "mail", "app"], dtype=object)[rng.integers(0, 4, n)]
    income_base = np.array([18e3, 72e3, 95e3, 210e3, 130e3, 45e3])[segment]
    income = (np.round(income_base * rng.lognormal(0, 0.35, n), -3)).astype(np.int64)
    opt_in = rng.random(n) < 0.6
    photo = ids % photo_count if photo_count else ids * 0
    cities, states, zips = place["city"].to_numpy(), place["state"].to_numpy(), place["zip"].to_numpy()
    lat, lon = place["latitude"].to_numpy(), place["longitude"].to_numpy()

    docs = []
    for i in range(n):
        doc = {
            "id": int(ids[i]),
            "name": f"{first[i]} {last[i]}",
            "first_name": first[i],
            "last_name": last[i],
            "gender": gender[i],
            "birth_date": birth[i],
            "ssn": f"{ssn_area[i]:03d}-{ssn_group[i]:02d}-{ssn_serial[i]:04d}",
        }
        if has_email[i]:
            doc["email"] = f"{folded[first[i]]}.{folded[last[i]]}{email_num[i]}@{email_dom[i]}"
        if has_phone[i]:
            doc["phone_number"] = phones[i]
        doc["address"] = {
            "street": f"{number[i]} {street[i]}",
            "city": cities[i],
            "state": states[i],
            "zip": zips[i],
            "latitude": float(lat[i]),
            "longitude": float(lon[i]),
        }
        doc["first_visit"] = visit[i]
        if web[i]:
            doc["web_user_id"] = int(web_user_id[i])
        doc["photo"] = f"avatar-{photo[i]:03d}.jpg"
        if optional[i, 0] < 0.3:
            doc["middle_name"] = middle[i]
        if optional[i, 1] < 0.55:
            doc["preferred_contact"] = contact[i]
        if optional[i, 2] < 0.4:
            doc["employer"] = employer[i]
        if optional[i, 3] < 0.35:
            doc["annual_income"] = int(income[i])
        if optional[i, 4] < 0.5:
            doc["marketing_opt_in"] = bool(opt_in[i])
        docs.append(orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE))
    return b"".join(docs)


def draw_surveys(
    rng: np.random.Generator,
    people: People,
    mood: np.ndarray,
    sentiment_idx: np.ndarray,
    observed_day: np.ndarray,
) -> list[dict]:
    """Survey answers of a minority of customers; the unhappy and the delighted answer a bit more often.

    Answers come from the year before a customer was last observed (a former customer answers no more).
    """
    n, ids, interest, holds = len(people), people.ids, people.interest, people.holds
    respond = rng.random(n) < 0.11 * (1 + 0.25 * np.abs(mood))
    respondents = np.nonzero(respond)[0]
    counts = 1 + (rng.random(len(respondents)) < 0.3)
    need_names = list(NEEDS)
    need_for_product = {p: [i for i, k in enumerate(need_names) if p in NEEDS[k]] for p in PRODUCTS}
    rows = []
    for idx, k in zip(respondents, counts, strict=True):
        for _ in range(k):
            true_class = SENTIMENTS[sentiment_idx[idx]]
            phrases = []
            for _ in range(int(rng.integers(1, 4))):
                cls = true_class if rng.random() < 0.8 else SENTIMENTS[int(rng.integers(0, 3))]
                pool = COMMENT_PHRASES[cls]
                phrase = pool[int(rng.integers(0, len(pool)))]
                if rng.random() < 0.3:
                    held = np.nonzero(holds[idx])[0]
                    if len(held):
                        product = PRODUCTS[int(held[rng.integers(0, len(held))])].replace("_", " ")
                        mention = PRODUCT_MENTIONS[int(rng.integers(0, len(PRODUCT_MENTIONS)))]
                        phrase = f"{phrase} {mention.format(p=product)}"
                phrases.append(phrase)
            needs = []
            if interest[idx] >= 0 and need_for_product[PRODUCTS[interest[idx]]]:
                options = need_for_product[PRODUCTS[interest[idx]]]
                needs.append(need_names[options[int(rng.integers(0, len(options)))]])
            for extra in rng.choice(len(need_names), size=int(rng.integers(0, 3)), replace=False):
                if need_names[extra] not in needs:
                    needs.append(need_names[extra])
            rating = int(np.clip(np.round(3 + 1.3 * mood[idx] + rng.normal(0, 0.6)), 1, 5))
            when = (
                EPOCH
                + timedelta(days=int(observed_day[idx]))
                - timedelta(seconds=int(rng.integers(0, SURVEY_DAYS * 86400)))
            )
            row = {
                "customer_id": int(ids[idx]),
                "submitted": when.isoformat(),
                "rating": rating,
                "comment": ". ".join(phrases) + ".",
                "needs": needs,
            }
            if rng.random() < 0.7:
                row["channel"] = ("web", "branch", "phone", "app")[int(rng.integers(0, 4))]
            rows.append(row)
    return rows

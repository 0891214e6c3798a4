"""The customer directory and the 360 record: the sources joined by SQL, searched as you type.

service.py    Directory: search, the 360 record, health; what the dashboard asks
integrate.py  DuckDB reads the CRM documents, survey files and banking tables and joins them
search.py     the SQLite FTS5 trigram index behind search-as-you-type, and how text is folded
sql.py        every statement, as the "behind the scenes" panel shows them
banking.py    core banking on MySQL/MariaDB (``C360_MYSQL_URL``)
"""

from connectors.directory.banking import BankingUnavailable, CoreBanking
from connectors.directory.search import CAP, fold, normalise_query
from connectors.directory.service import CustomerRecord, Directory, SearchResult, UnknownCustomer

__all__ = [
    "CAP",
    "BankingUnavailable",
    "CoreBanking",
    "CustomerRecord",
    "Directory",
    "SearchResult",
    "UnknownCustomer",
    "fold",
    "normalise_query",
]

"""Commands for operators and tests, run with ``python -m``; the server never imports them.

mysql_load.py    load the sample's banking tables into MySQL/MariaDB
produce.py       replay click files into a Kafka topic, throttled
local_broker.py  a Kafka-protocol broker on loopback (librdkafka's mock cluster) for tests and demos
"""

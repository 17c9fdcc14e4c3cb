import csv
from collections import defaultdict

from regions import REGIONS

from ferris_ef import context

totals: dict[str, int] = defaultdict(int)
with open("sales.csv", newline="") as sales:
    for row in csv.DictReader(sales):
        totals[row["region"]] += int(row["amount"])
print("report: prepared first:", context.state.get().get("prepared"))
for region in REGIONS:
    print(f"report: {region} {totals[region]}")

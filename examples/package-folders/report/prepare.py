import json
import sys

from regions import REGIONS

from ferris_ef import context

params = json.loads(sys.argv[1])
print("prepare: package", params["package_name"], "regions", ",".join(REGIONS))
context.state.put("prepared", True)

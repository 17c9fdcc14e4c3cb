import json
import sys

print("hello from", json.loads(sys.argv[1])["package_name"])

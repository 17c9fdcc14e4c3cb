REGIONS = ("eu", "us")

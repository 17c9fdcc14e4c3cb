from ferris_ef import context, get_param, get_secret

warehouse = get_secret("WAREHOUSE_URL")
print(f"building the report for {get_param('day')} from {warehouse}")
state = context.state.get()
context.state.put("reports_built", state.get("reports_built", 0) + 1)
print("reports built so far:", state.get("reports_built", 0) + 1)

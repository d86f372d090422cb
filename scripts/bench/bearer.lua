-- wrk: every request carries Authorization: Bearer $WRK_TOKEN.
wrk.headers["Authorization"] = "Bearer " .. os.getenv("WRK_TOKEN")

-- wrk: POST a small job over keep-alive connections.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = os.getenv("JR_BODY") or '{"job_type":"prime","params":{"limit":10}}'

-- wrk script for bench/serve_load.sh: each thread posts exactly `per_thread`
-- jobs (removal of SMALL into OUT/THREAD-N.png), then only asks for
-- /health (cheap, creates nothing) until every post has its answer, and
-- stops. A post is answered 202 (or an error), /health 200, which is how
-- the answers are told apart. Arguments after "--": SMALL OUT PER_THREAD
-- TOKEN.
--
-- wrk calls the first thread's request() once to check what it makes and
-- never sends that one (script_verify_request), so each thread's first
-- request is a /health: no post is lost to the check.
local next_id = 0
function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
end

function init(args)
  small, out, per_thread, token = args[1], args[2], tonumber(args[3]), args[4]
  sent = 0
  answered = 0
  first = true
end

function request()
  local headers = { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json" }
  if first or sent >= per_thread then
    first = false
    return wrk.format("GET", "/api/v1/health", headers)
  end
  sent = sent + 1
  local body = string.format(
    '{"source_uri":"%s","target_uri":"%s/%d-%d.png",' ..
    '"watermark_removal_config":{"detector":"none","regions":[[4,4,16,16]]}}',
    small, out, tid, sent)
  return wrk.format("POST", "/api/v1/jobs", headers, body)
end

function response(status, headers, body)
  if status ~= 200 then
    answered = answered + 1
  end
  if answered >= per_thread then
    wrk.thread:stop()
  end
end

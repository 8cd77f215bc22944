-- wrk script: HTTP/1.1 pipelining, as gnet's bench-http.sh does it.
-- wrk -t1 -c256 -d5s -s bench/pipeline.lua http://127.0.0.1:PORT/plaintext -- 16
-- sends DEPTH (default 16) requests back to back on each connection, then reads DEPTH answers.
init = function(args)
  local depth = tonumber(args[1]) or 16
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format()
  end
  req = table.concat(r)
end

request = function()
  return req
end

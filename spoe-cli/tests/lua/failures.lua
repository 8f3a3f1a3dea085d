-- Scripts that fail, loop or refuse: what a proxy does with them must match HAProxy's.
core.register_action("boom", { "http-req" }, function(txn)
  txn:set_var("txn.before_boom", 1)
  error("boom")
end)

core.register_action("spin", { "http-req" }, function(txn)
  txn:set_var("txn.before_spin", 1)
  while true do end
end)

core.register_fetches("broken", function(txn)
  return nil .. "x"
end)

core.register_service("broken_service", "http", function(applet)
  error("service down")
end)

core.register_action("deny_it", { "http-req" }, function(txn)
  return act.DENY
end)

core.register_action("res_rewrite", { "http-res" }, function(txn)
  txn.http:res_set_status(299, "Fine")
  txn.http:res_set_header("x-res-lua", tostring(bit32.band(0xf0f0, 0x00ff)))
end)

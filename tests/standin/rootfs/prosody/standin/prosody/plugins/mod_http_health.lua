-- /health for the stand-in Prosody, with the contract of the prosody image's mod_http_health
-- (prosody/rootfs/prosody-plugins at stable-11146-2): only loopback clients get an answer (others
-- 403); 500 once any module of any host failed to load, else 200. The stand-in's fault flags
-- /tmp/fault-health and /var/fault/health also give a 500.
-- luacheck: read globals module prosody

local modulemanager = require "core.modulemanager";

local LOOPBACK = { ["127.0.0.1"] = true, ["::1"] = true };
local FAULT_FLAGS = { "/tmp/fault-health", "/var/fault/health" };

module:set_global();

local function fault_injected()
	for _, path in ipairs(FAULT_FLAGS) do
		local flag = io.open(path);
		if flag then
			flag:close();
			return true;
		end
	end
	return false;
end

local function some_module_failed()
	for host in pairs(prosody.hosts) do
		for _, loaded in pairs(modulemanager.get_modules(host)) do
			if loaded.module.status_type == "error" then
				return true;
			end
		end
	end
	return false;
end

local function plain(status, text)
	return { status_code = status; headers = { content_type = "text/plain" }; body = text };
end

module:provides("http", {
	route = {
		GET = function (event)
			if not LOOPBACK[event.request.ip] then
				return 403;
			end
			if fault_injected() or some_module_failed() then
				return plain(500, "HAS ERRORS\n");
			end
			return plain(200, "OK\n");
		end;
	};
});
